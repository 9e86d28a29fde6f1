from django.contrib.auth.decorators import login_required
from django.shortcuts import render


@login_required
def home(request):
    """Until the dashboard lands, the signed-in landing page points at the API docs."""
    return render(request, "home.html")
