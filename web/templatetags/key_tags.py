"""How a key looks on the dashboard: its status in words, its dates in people's terms and its
history in a line per event (web.changes)."""
import math
from datetime import timedelta

from django import template
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from core import crypto
from keys.models import KeyState
from web import changes
from web.key_forms import ApiKeyRegenerateForm

register = template.Library()


@register.filter
def key_status(key) -> str:
    return key.status


@register.filter
def status_class(key, limits_reached) -> str:
    """The state for colouring: a usable key whose limit is used up is shown as refused."""
    state = key.status
    if state in (KeyState.ACTIVE, KeyState.EXPIRING) and key.pk in (limits_reached or {}):
        return "limited"
    return state


@register.filter
def status_text(key, limits_reached=None) -> str:
    """The state in the words a person acts on: how many days an expiring key has left, that
    its limit is used up and until when (usage.selectors.limits_reached), and that an active
    key has never been used (a candidate to revoke, or a value never deployed)."""
    state = key.status
    if state in (KeyState.ACTIVE, KeyState.EXPIRING) and key.pk in (limits_reached or {}):
        return f"Limit reached until {limits_reached[key.pk]:%Y-%m-%d %H:%M} UTC"
    if state == KeyState.EXPIRING:
        days = math.ceil((key.expires_at - timezone.now()) / timedelta(days=1))
        return f"Expiring in {days} day{'s' if days != 1 else ''}"
    if state == KeyState.ACTIVE and key.last_used_at is None:
        return "Unused"
    return state.label


SPARK_WIDTH, SPARK_HEIGHT = 70, 20


@register.simple_tag
def sparkline(sparklines, key_id, days: int):
    """A key's requests per day as bars, drawn on the server (no script, no chart library),
    with the total in words for screen readers and on hover."""
    counts = (sparklines or {}).get(key_id, [0] * days)
    total, peak = sum(counts), max(counts, default=0) or 1
    label = f"{total:,} request{'s' if total != 1 else ''} in the last {days} days"
    step = SPARK_WIDTH / len(counts)
    heights = [max(count / peak * SPARK_HEIGHT, 1) for count in counts]  # a day without requests: a 1px line
    bars = format_html_join("", '<rect x="{}" y="{}" width="{}" height="{}"></rect>', (
        (f"{index * step:.1f}", f"{SPARK_HEIGHT - height:.1f}", f"{step - 1:.1f}", f"{height:.1f}")
        for index, height in enumerate(heights)))
    return format_html('<svg class="sparkline{}" role="img" aria-label="{}" viewBox="0 0 {} {}" width="{}" height="{}">'
                       '<title>{}</title>{}</svg>', "" if total else " idle", label, SPARK_WIDTH, SPARK_HEIGHT,
                       SPARK_WIDTH, SPARK_HEIGHT, label, bars)


@register.filter
def masked(prefix: str) -> str:
    return crypto.masked(prefix)


@register.filter
def grace_active(key) -> bool:
    """Whether the value before the last regenerate still works (its grace period has not ended)."""
    return bool(key.previous_prefix and key.previous_expires_at and key.previous_expires_at > timezone.now())


@register.simple_tag
def regenerate_form(auto_id: str = "id_%s"):
    """The grace-period choice, for the confirm dialog that every key page carries."""
    return ApiKeyRegenerateForm(auto_id=auto_id)


@register.inclusion_tag("keys/_moment.html")
def moment(value, empty="Never", relative=True):
    """A <time> with the relative or calendar form shown and the exact UTC instant on hover."""
    return {"value": value, "empty": empty, "relative": relative}


@register.filter
def audit_summary(event) -> str:
    return changes.audit_summary(event)
