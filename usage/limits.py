"""Per-key limits, checked before the view runs (a DRF throttle, DRF's hook for exactly
this), and the RateLimit header fields that tell a client where it stands.

Product routes count against the key's limits. Keyhouse's own management routes (who am I,
keys, limits, restrictions, usage and audit reads) never do: a key that used up its quota, or
set its own limit to 0, can still read why and lift the limit. They have their own per-key
abuse limit instead, a fixed one-minute window; so does OPTIONS on any route, which runs no
product code.

The header fields follow draft-ietf-httpapi-ratelimit-headers (-11 and later): one policy
item per limit, registered parameters (q, qu, w, pk; r, t, pk) and the rest prefixed
`keyhouse-`. The draft registers no money unit, so the budget policy counts requests at the
price of the route being called (q = budget // price) and carries the microcents in vendor
parameters; a free request is not governed by the budget, so it gets no budget item.
"""
import base64
import functools
import math
import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils import timezone
from rest_framework.throttling import BaseThrottle

from core.hot_settings import hot
from core.outcomes import KeyStatus
from keys.models import Mode
from keys.restrictions import needed_scope
from keys.verification import SCOPE_UNKNOWN, LimitSnapshot
from usage import counters, leases, quota_leases
from usage.periods import period_bounds

DEFAULT_TIER = "free"
# The API areas of Keyhouse's own routes (keys:read, usage:read, audit:read, ...).
MANAGEMENT_AREAS = frozenset({"keys", "usage", "audit"})
MANAGEMENT_WINDOW_SECONDS = 60
VENDOR_PREFIX = "keyhouse-"


def tier_of(view) -> str:
    return getattr(view, "usage_tier", DEFAULT_TIER)


def price(tier: str, mode: str) -> int:
    """Microcents charged for one request; test-mode keys are never charged."""
    return 0 if mode == Mode.TEST else hot.USAGE_TIERS[tier]


def is_management(view, method: str, scope: str | None) -> bool:
    """Whether a request is Keyhouse managing keys rather than the customer's product traffic:
    the view's API area is one of Keyhouse's own (`scope`, the one the request needs), or the view
    says so itself (`/me`, which any key may call, belongs to no area). OPTIONS only asks what a
    route accepts, answered from its description without running the product's code, so it spends
    nothing of the key's quota (and a browser's preflight, which carries no key, never could).
    Anything else, a new host view included, is metered."""
    if method == "OPTIONS" or getattr(view, "management_route", False):
        return True
    return scope is not None and scope.split(":")[0] in MANAGEMENT_AREAS


@functools.lru_cache(maxsize=4096)
def _byte_sequence(value: bytes) -> str:
    """A key's id as a Structured Fields Byte Sequence: the same on every response of the key."""
    return f":{base64.b64encode(value).decode()}:"


def sf_item(name: str, params: dict) -> str:
    """One Structured Fields (RFC 9651) Item: a String naming the policy, then its parameters,
    each an Integer, a String or a Byte Sequence. Names and string values are our own ASCII."""
    parts = [f'"{name}"']
    for key, value in params.items():
        if isinstance(value, bytes):
            parts.append(f"{key}={_byte_sequence(value)}")
        elif isinstance(value, str):
            parts.append(f'{key}="{value}"')
        else:
            parts.append(f"{key}={int(value)}")
    return ";".join(parts)


@dataclass(frozen=True)
class Quota:
    limit: LimitSnapshot
    used: counters.Consumption
    period_start: datetime
    period_end: datetime
    now: datetime
    partition: bytes  # the id of the key whose counter this use counts against
    price: int  # of the request being made, in microcents

    @property
    def reset_seconds(self) -> int:
        """Whole seconds until the period ends, rounded up: never earlier than the reset."""
        return max(1, math.ceil((self.period_end - self.now).total_seconds()))

    def headers(self) -> dict:
        common = {"pk": self.partition}
        states = []
        if self.limit.request_limit is not None:
            remaining = max(0, self.limit.request_limit - self.used.requests)
            states.append(sf_item("requests", {"r": remaining, "t": self.reset_seconds, **common}))
        if self.limit.budget_limit_microcents is not None and self.price > 0:
            left = max(0, self.limit.budget_limit_microcents - self.used.spend_microcents)
            states.append(sf_item("budget", {"r": left // self.price, "t": self.reset_seconds, **common,
                                             f"{VENDOR_PREFIX}remaining-microcents": left}))
        if not states:
            return {}
        window = int((self.period_end - self.period_start).total_seconds())
        return {"RateLimit-Policy": _policies(self.limit.request_limit, self.limit.budget_limit_microcents,
                                              self.price, window, self.partition),
                "RateLimit": ", ".join(states)}


@functools.lru_cache(maxsize=4096)
def _policies(request_limit: int | None, budget: int | None, price: int, window: int, partition: bytes) -> str:
    """The RateLimit-Policy field of a limit, the same on every response until the limit, the
    route's price or the period's length changes: built once for each."""
    common = {"pk": partition}
    policies = []
    if request_limit is not None:
        policies.append(sf_item("requests", {"q": request_limit, "qu": "requests", "w": window, **common}))
    if budget is not None and price > 0:
        policies.append(sf_item("budget", {
            "q": budget // price, "qu": "requests", "w": window, **common,
            f"{VENDOR_PREFIX}budget-microcents": budget, f"{VENDOR_PREFIX}price-microcents": price}))
    return ", ".join(policies)


def quota_consume(grant, cost: int, now: datetime | None = None) -> Quota | None:
    """Count one request of `cost` against the key's limits; None when it has none."""
    limit = grant.limit
    if limit is None or not limit.is_enforced:
        return None
    now = now or timezone.now()
    start, end = period_bounds(limit.reset_period, now)
    counter_key_id = limit.counter_key_id or grant.key_id
    count = quota_leases.book.consume if quota_leases.enabled() else counters.consume
    used = count(key_id=counter_key_id, period_start=start, period_end=end, cost=cost,
                 request_limit=limit.request_limit, budget=limit.budget_limit_microcents)
    return Quota(limit=limit, used=used, period_start=start, period_end=end, now=now,
                 partition=counter_key_id.bytes, price=cost)


@dataclass(frozen=True)
class ManagementWindow:
    """A key's use of the management routes in the current minute, as this worker's lease of the
    minute's quota tells it (usage.leases): whether this request is admitted, and a `remaining`
    as of this worker's last lease (every worker's lease counted as used then)."""

    limit: int
    admitted: bool
    remaining: int
    reset_seconds: int
    partition: bytes

    def headers(self) -> dict:
        common = {"pk": self.partition}
        return {
            "RateLimit-Policy": sf_item("management", {"q": self.limit, "qu": "requests",
                                                       "w": MANAGEMENT_WINDOW_SECONDS, **common}),
            "RateLimit": sf_item("management", {"r": max(0, self.remaining), "t": self.reset_seconds, **common}),
        }


def management_consume(grant, now: float | None = None) -> ManagementWindow | None:
    """Admit or refuse one management request in the key's current minute, from this worker's
    lease of its quota; None when the limit is off, or when the counter store did not answer
    (the lease fails open)."""
    limit = settings.MANAGEMENT_REQUESTS_PER_MINUTE
    if not limit:
        return None
    now = time.time() if now is None else now
    start = int(now // MANAGEMENT_WINDOW_SECONDS) * MANAGEMENT_WINDOW_SECONDS
    admission = leases.book.admit(key_id=grant.key_id, window_start=start, window_seconds=MANAGEMENT_WINDOW_SECONDS,
                                  limit=limit)
    if admission is None:
        return None
    reset = max(1, math.ceil(admission.window_start + MANAGEMENT_WINDOW_SECONDS - now))
    return ManagementWindow(limit=limit, admitted=admission.admitted, remaining=admission.remaining,
                            reset_seconds=reset, partition=grant.key_id.bytes)


class KeyLimitThrottle(BaseThrottle):
    """Admits or refuses a keyed request: product routes by the key's limits, priced by the
    view's tier; Keyhouse's own routes by the management abuse limit, free of charge."""

    def allow_request(self, request, view):
        verification = getattr(request._request, "key_verification", None)
        if verification is None or not verification.is_valid or request.auth is not verification.grant:
            return True
        tier = tier_of(view)
        # Worked out once, by the restrictions check, unless the view runs without it.
        scope, method = verification.scope, request._request.method
        if scope == SCOPE_UNKNOWN:
            scope = needed_scope(view, method)
        if is_management(view, method, scope):
            return self._allow_management(request, verification, tier)
        cost = price(tier, verification.grant.mode)
        quota = quota_consume(verification.grant, cost)
        if quota is None or quota.used.admitted:
            request._request.key_verification = verification.admitted(charge=(tier, cost), quota=quota)
            return True
        by_budget = quota.used.refused_by == "budget"
        status = KeyStatus.BUDGET_EXCEEDED if by_budget else KeyStatus.REQUEST_LIMIT_EXCEEDED
        refused = verification.admitted(charge=(tier, 0), quota=quota).refused(
            status, details={"reset_at": quota.period_end.isoformat(), "requests_used": quota.used.requests,
                             "spend_used_microcents": quota.used.spend_microcents,
                             "violated-policies": ["budget" if by_budget else "requests"]},
            period=quota.limit.reset_period, seconds=quota.reset_seconds, reset_at=quota.period_end.isoformat())
        request._request.key_verification = refused
        raise refused.refusal(headers={"Retry-After": str(quota.reset_seconds), **quota.headers()})

    def _allow_management(self, request, verification, tier: str) -> bool:
        window = management_consume(verification.grant)
        admitted = verification.admitted(charge=(tier, 0), quota=window)
        if window is None or window.admitted:
            request._request.key_verification = admitted
            return True
        refused = admitted.refused(KeyStatus.MANAGEMENT_RATE_EXCEEDED,
                                   details={"violated-policies": ["management"]},
                                   limit=window.limit, seconds=window.reset_seconds)
        request._request.key_verification = refused
        raise refused.refusal(headers={"Retry-After": str(window.reset_seconds), **window.headers()})
