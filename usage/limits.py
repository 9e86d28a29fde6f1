"""Per-key limits, checked before the view runs (a DRF throttle, DRF's hook for exactly
this), and the IETF RateLimit headers that tell a client where it stands."""
import math
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils import timezone
from rest_framework.throttling import BaseThrottle

from config.errors import LimitExceeded
from keys.models import Mode
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
    limit: object  # KeyLimit
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


def quota_consume(key, cost: int, now: datetime | None = None) -> Quota | None:
    """Count one request of `cost` against the key's limits; None when it has none."""
    limit = getattr(key, "limit", None)
    if limit is None or not limit.is_enforced:
        return None
    now = now or timezone.now()
    start, end = period_bounds(limit.reset_period, now)
    used = counters.consume(key_id=key.pk, period_start=start, period_end=end, cost=cost,
                            request_limit=limit.request_limit, budget=limit.budget_limit_microcents)
    return Quota(limit=limit, used=used, period_end=end, now=now)


class KeyLimitThrottle(BaseThrottle):
    """Admits or refuses a keyed request by its key's limits; prices it by the view's tier."""

    def allow_request(self, request, view):
        key = getattr(request._request, "api_key", None)
        if key is None or request.auth is not key:
            return True
        tier = tier_of(view)
        cost = price(tier, key.mode)
        quota = quota_consume(key, cost)
        request._request.usage_charge = (tier, cost)
        if quota is None:
            return True
        request._request.usage_quota = quota
        if quota.used.admitted:
            return True
        request._request.usage_charge = (tier, 0)
        budget = quota.used.refused_by == "budget"
        what = "budget" if budget else "request limit"
        raise LimitExceeded(
            f"This key has used its {quota.limit.reset_period} {what}; it resets in {quota.reset_seconds} seconds "
            f"({quota.period_end.isoformat()}). Ask a company admin to raise the limit if you need more.",
            code="budget_limit_exceeded" if budget else "request_limit_exceeded",
            details={"reset_at": quota.period_end.isoformat(), "requests_used": quota.used.requests,
                     "spend_used_microcents": quota.used.spend_microcents},
            headers={"Retry-After": str(quota.reset_seconds), **quota.headers()},
        )
