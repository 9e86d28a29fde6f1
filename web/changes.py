"""What happened to a key, its limits or restrictions, or a company's key policy, in a line: the
before → after of an audit event's `changes`, for the key's history and the pages' messages."""
from datetime import datetime, time

from accounts.models import POLICY_FIELDS
from audit.models import AuditAction
from core import crypto
from keys.models import LIMIT_FIELDS, RESTRICTION_FIELDS
from web.charts import format_money

FIELD_LABELS = {"name": "name", "expires_at": "expires", "prefix": "key", "mode": "mode", "owner": "owner",
                "request_limit": "request limit", "budget_limit_microcents": "budget", "reset_period": "resets",
                "enabled": "enforced", "allowed_ips": "IP addresses", "allowed_referrers": "referrers",
                "scopes": "scopes", "max_key_lifetime_days": "maximum key lifetime",
                "require_key_expiry": "expiry required", "unused_key_days": "unused after",
                "default_request_limit": "default request limit", "default_budget_limit_microcents": "default budget",
                "default_limit_period": "default limits reset"}
DAYS_FIELDS = ("max_key_lifetime_days", "unused_key_days")
# PostgreSQL's jsonb does not keep the order keys were written in, so it is set here.
FIELD_ORDER = ("name", "mode", "owner", "expires_at", "prefix")
ARROW = " → "


def _value(field: str, value) -> str:
    if field == "expires_at":
        return "never" if value is None else _instant(value)
    if field in DAYS_FIELDS:
        return "no maximum" if value is None else f"{value:,} days"
    if field in ("allowed_ips", "allowed_referrers") and not value:
        return "any"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if field in ("budget_limit_microcents", "default_budget_limit_microcents"):
        return format_money(value)
    if isinstance(value, int):
        return f"{value:,}"
    if field == "name":
        return f"“{value}”"
    if field == "prefix":
        return crypto.masked(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "none"
    return str(value)


def _instant(iso: str) -> str:
    try:
        moment = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return str(iso)
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment.time() != time.min else f"{moment:%Y-%m-%d}"


def _label(field: str) -> str:
    return FIELD_LABELS.get(field, field.replace("_", " "))


def limits_summary(limits: dict | None) -> str:
    if not limits:
        return "no limits"
    return "; ".join(f"{_label(f)}: {_value(f, limits.get(f))}" for f in LIMIT_FIELDS)


def _changes(fields, before: dict, after: dict) -> str:
    changed = [f for f in fields if before.get(f) != after.get(f)]
    return "; ".join(f"{_label(f)}: {_value(f, before.get(f))}{ARROW}{_value(f, after.get(f))}" for f in changed)


def limits_change(before: dict | None, after: dict | None) -> str:
    """Only what differs, e.g. 'request limit: 1,000 → 500'; all of `after` for new limits."""
    if before is None:
        return limits_summary(after)
    return _changes(LIMIT_FIELDS, before, after or {})


def restrictions_change(before: dict | None, after: dict | None) -> str:
    """e.g. 'IP addresses: any → 203.0.113.0/24; scopes: all → demo, keys:read'. An API call may
    replace only some of them; the others are absent from both and not mentioned."""
    after = after or {}
    return _changes([f for f in RESTRICTION_FIELDS if f in after], before or {}, after)


def policy_change(before: dict, after: dict) -> str:
    """e.g. 'maximum key lifetime: no maximum → 90 days; expiry required: no → yes'."""
    return _changes(POLICY_FIELDS, before or {}, after or {})


def audit_summary(event) -> str:
    changes = event.changes or {}
    if event.action in (AuditAction.LIMITS_SET, AuditAction.LIMITS_CHANGED):
        return limits_change(changes.get("before"), changes.get("after"))
    if event.action == AuditAction.LIMITS_REMOVED:
        return f"were {limits_summary(changes.get('before'))}"
    if event.action == AuditAction.RESTRICTIONS_CHANGED:
        return restrictions_change(changes.get("before"), changes.get("after"))
    parts = []
    order = {field: place for place, field in enumerate(FIELD_ORDER)}
    for field, value in sorted(changes.items(), key=lambda item: (order.get(item[0], len(order)), item[0])):
        if field == "old_value_works_until":
            parts.append("old value stopped at once" if value is None else f"old value works until {_instant(value)}")
        elif isinstance(value, dict) and value.keys() == {"before", "after"}:
            parts.append(f"{_label(field)}: {_value(field, value['before'])}{ARROW}{_value(field, value['after'])}")
        else:
            parts.append(f"{_label(field)}: {_value(field, value)}")
    return "; ".join(parts)
