"""Per-key limits, checked before the view runs (a DRF throttle, DRF's hook for exactly
this), and the IETF RateLimit headers that tell a client where it stands."""
import math
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils import timezone
from rest_framework.throttling import BaseThrottle

from keys.models import Mode
from core.outcomes import KeyStatus
from usage import counters
from usage.periods import period_bounds

DEFAULT_TIER = "free"


def tier_of(view) -> str:
    return getattr(view, "usage_tier", DEFAULT_TIER)


def price(tier: str, mode: str) -> int:
    """Microcents charged for one request; test-mode keys are never charged."""
    return 0 if mode == Mode.TEST else settings.USAGE_TIERS[tier]


@dataclass(frozen=True)
class Quota:
    limit: object  # keys.verification.LimitSnapshot
    used: counters.Consumption
    period_end: datetime
    now: datetime

    @property
    def reset_seconds(self) -> int:
        return max(1, math.ceil((self.period_end - self.now).total_seconds()))

    def headers(self) -> dict:
        policies, states = [], []
        window = f"w={int((self.period_end - period_bounds(self.limit.reset_period, self.now)[0]).total_seconds())}"
        if self.limit.request_limit is not None:
            remaining = max(0, self.limit.request_limit - self.used.requests)
            policies.append(f'"requests";q={self.limit.request_limit};{window}')
            states.append(f'"requests";r={remaining};t={self.reset_seconds}')
        if self.limit.budget_limit_microcents is not None:
            remaining = max(0, self.limit.budget_limit_microcents - self.used.spend_microcents)
            policies.append(f'"budget";q={self.limit.budget_limit_microcents};qu="microcents";{window}')
            states.append(f'"budget";r={remaining};t={self.reset_seconds}')
        return {"RateLimit-Policy": ", ".join(policies), "RateLimit": ", ".join(states)}


def quota_consume(grant, cost: int, now: datetime | None = None) -> Quota | None:
    """Count one request of `cost` against the key's limits; None when it has none."""
    limit = grant.limit
    if limit is None or not limit.is_enforced:
        return None
    now = now or timezone.now()
    start, end = period_bounds(limit.reset_period, now)
    used = counters.consume(key_id=limit.counter_key_id or grant.key_id, period_start=start, period_end=end, cost=cost,
                            request_limit=limit.request_limit, budget=limit.budget_limit_microcents)
    return Quota(limit=limit, used=used, period_end=end, now=now)


class KeyLimitThrottle(BaseThrottle):
    """Admits or refuses a keyed request by its key's limits; prices it by the view's tier."""

    def allow_request(self, request, view):
        verification = getattr(request._request, "key_verification", None)
        if verification is None or not verification.is_valid or request.auth is not verification.grant:
            return True
        tier = tier_of(view)
        cost = price(tier, verification.grant.mode)
        quota = quota_consume(verification.grant, cost)
        if quota is None or quota.used.admitted:
            request._request.key_verification = verification.admitted(charge=(tier, cost), quota=quota)
            return True
        status = KeyStatus.BUDGET_EXCEEDED if quota.used.refused_by == "budget" else KeyStatus.REQUEST_LIMIT_EXCEEDED
        refused = verification.admitted(charge=(tier, 0), quota=quota).refused(
            status, details={"reset_at": quota.period_end.isoformat(), "requests_used": quota.used.requests,
                             "spend_used_microcents": quota.used.spend_microcents},
            period=quota.limit.reset_period, seconds=quota.reset_seconds, reset_at=quota.period_end.isoformat())
        request._request.key_verification = refused
        raise refused.refusal(headers={"Retry-After": str(quota.reset_seconds), **quota.headers()})
