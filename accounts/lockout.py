"""The answer to a sign-in that django-axes refused (settings: AXES_*; docs/security.md).

After AXES_FAILURE_LIMIT wrong passwords for one username from one address, that pair is
refused before any password is hashed, until AXES_COOLOFF_TIME has passed since the last
counted failure; attempts during the lockout are not counted, so that time is fixed and the
page can name it."""
import functools
import math
from datetime import datetime, timedelta

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone


def lockout_ends_at(*, username: str | None, ip_address: str | None, cool_off: timedelta) -> datetime:
    last = AccessAttempt.objects.filter(username=username, ip_address=ip_address).aggregate(
        last=Max("attempt_time"))["last"]
    return (last or timezone.now()) + cool_off


def lockout_response(request, original_response=None, credentials=None):
    """429 with Retry-After, in the site's layout, for both sign-in pages."""
    username = get_client_username(request, credentials)
    ends_at = lockout_ends_at(username=username, ip_address=request.axes_ip_address, cool_off=get_cool_off(request))
    response = render(request, "registration/locked_out.html", {"username": username, "ends_at": ends_at}, status=429)
    response["Retry-After"] = str(max(1, math.ceil((ends_at - timezone.now()).total_seconds())))
    return response


class LockoutGateMiddleware:
    """Refuses a locked-out sign-in before sessions, CSRF, the form and the login view run.

    Without it a refused guess still costs a session read, a CSRF check, a form and two
    renders: more than a page view, so a flood of refused guesses slowed keyed API callers
    more than a flood of page views did (docs/security.md). Axes' own middleware and backend
    stay in place for everything else: counting failures and the first refusal."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method == "POST" and request.path_info in _sign_in_paths():
            credentials = {settings.AXES_USERNAME_FORM_FIELD: request.POST.get(settings.AXES_USERNAME_FORM_FIELD)}
            if AxesProxyHandler.is_locked(request, credentials):
                return lockout_response(request, credentials=credentials)
        return self.get_response(request)


@functools.cache
def _sign_in_paths() -> frozenset[str]:
    return frozenset({reverse("login"), reverse("admin:login")})
