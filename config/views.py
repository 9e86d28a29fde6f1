from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect


@login_required
def home(request):
    """People come to Keyhouse to manage their keys, so that page is the front page."""
    return redirect("dashboard:key-list")
