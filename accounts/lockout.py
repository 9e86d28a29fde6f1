"""The answer to a sign-in that django-axes refused (settings: AXES_*; docs/security.md).

After AXES_FAILURE_LIMIT wrong passwords for one username from one address, that pair is
refused before any password is hashed, until AXES_COOLOFF_TIME has passed since the last
counted failure; attempts during the lockout are not counted, so that time is fixed and the
page can name it."""
import math
from datetime import datetime, timedelta

from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.db.models import Max
from django.shortcuts import render
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
