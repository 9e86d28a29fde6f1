"""How a key looks on the dashboard: its status in words and its dates in people's terms."""
from datetime import timedelta

from django import template
from django.utils import timezone

from keys import crypto

register = template.Library()

# An active key this close to its expiry is flagged, so there is time to rotate it.
EXPIRING_WITHIN = timedelta(days=7)
STATUS_LABELS = {"active": "Active", "expiring": "Expiring soon", "expired": "Expired", "revoked": "Revoked"}


@register.filter
def key_status(key) -> str:
    if key.is_revoked:
        return "revoked"
    if key.has_expired:
        return "expired"
    if key.expires_at and key.expires_at - timezone.now() <= EXPIRING_WITHIN:
        return "expiring"
    return "active"


@register.filter
def status_label(status: str) -> str:
    return STATUS_LABELS[status]


@register.filter
def masked(prefix: str) -> str:
    return crypto.masked(prefix)


@register.inclusion_tag("keys/_moment.html")
def moment(value, empty="Never", relative=True):
    """A <time> with the relative or calendar form shown and the exact UTC instant on hover."""
    return {"value": value, "empty": empty, "relative": relative}
