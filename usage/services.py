from django.db import transaction

from config.errors import ValidationFailed
from keys import cache as key_cache
from keys.audit import audit_record
from keys.models import ApiKey, AuditAction
from usage.models import KeyLimit, RequestLog, ResetPeriod

# Bounds that catch typos (an extra six zeros) rather than express policy.
MAX_REQUEST_LIMIT = 10**12
MAX_BUDGET_MICROCENTS = 10**15


@transaction.atomic
def limits_set(*, api_key: ApiKey, request_limit: int | None = None, budget_limit_microcents: int | None = None,
               reset_period: str = ResetPeriod.MONTHLY, enabled: bool = True, actor=None) -> KeyLimit:
    """Replace the key's limits. Use so far in the current period still counts."""
    for name, value, most in (("request_limit", request_limit, MAX_REQUEST_LIMIT),
                              ("budget_limit_microcents", budget_limit_microcents, MAX_BUDGET_MICROCENTS)):
        if value is not None and not 0 <= value <= most:
            raise ValidationFailed(f"{name} must be between 0 and {most:,}.", details={name: [f"0 to {most}"]})
    if reset_period not in ResetPeriod.values:
        raise ValidationFailed("reset_period must be daily, weekly or monthly.", details={"reset_period": [reset_period]})
    before = _as_dict(KeyLimit.objects.filter(api_key=api_key).first())
    after = {"request_limit": request_limit, "budget_limit_microcents": budget_limit_microcents,
             "reset_period": reset_period, "enabled": enabled}
    limit, created = KeyLimit.objects.update_or_create(api_key=api_key, defaults=after)
    key_cache.forget_key(api_key)
    if before != after:
        audit_record(action=AuditAction.LIMITS_SET if created else AuditAction.LIMITS_CHANGED,
                     company=api_key.company, api_key=api_key, actor=actor,
                     changes={"before": before, "after": after})
    return limit


def _as_dict(limit: KeyLimit | None) -> dict | None:
    if limit is None:
        return None
    return {"request_limit": limit.request_limit, "budget_limit_microcents": limit.budget_limit_microcents,
            "reset_period": limit.reset_period, "enabled": limit.enabled}


@transaction.atomic
def limits_delete(*, api_key: ApiKey, actor=None) -> bool:
    before = _as_dict(KeyLimit.objects.filter(api_key=api_key).first())
    deleted, _ = KeyLimit.objects.filter(api_key=api_key).delete()
    key_cache.forget_key(api_key)
    if deleted:
        audit_record(action=AuditAction.LIMITS_REMOVED, company=api_key.company, api_key=api_key, actor=actor,
                     changes={"before": before})
    return bool(deleted)


def usage_prune(*, before, batch_size: int = 5000, progress=None) -> int:
    """Delete raw log rows older than `before` in batches (rollups stay); returns the count."""
    deleted = 0
    while True:
        ids = list(RequestLog.objects.filter(created_at__lt=before).order_by("id").values_list("id", flat=True)[:batch_size])
        if not ids:
            return deleted
        with transaction.atomic():
            deleted += RequestLog.objects.filter(id__in=ids).delete()[0]
        if progress:
            progress(deleted)
