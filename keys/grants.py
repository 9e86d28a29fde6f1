"""The one grant rule: whether a caller may obtain a key's value (create, regenerate) or widen
what a key may do (scopes, restrictions, limits, expiry). The services that do those things
take the caller as `grantor` and ask here before writing, so every route, page, admin action
and command is held to the same rule.

A grantor is an accounts.access.Actor (a person, or a key acting for its owner, whose snapshot
`actor.api_key` bounds what it may hand out) or OPERATOR (a management command), bound by none
of it. The rule:
- the old value of a regenerated key, in its grace period, manages no key;
- nobody acts for a person of a higher rank (accounts.access.person_check_act_for);
- no key obtains a value of, or grants, scopes beyond its own;
- a limited key obtains values only of keys limited at least as strictly, and a key it creates
  is limited the same way; without one, a new key gets its company's default limit;
- a key with a budget obtains no value of a test key, whose use is never charged;
- a key changes no limit but the one it set on itself: not that of a limited key (the keys it
  made inherit it), and never the one a person set on it, enforced or not;
- a key with an expiry gives no key a later expiry or none, and obtains no value of a key that
  outlives it: a key made by it without an expiry expires with it, so a leaked key that expires
  tomorrow cannot make itself, or a key it makes, last for ever.
"""
import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal, cast

from accounts.access import Actor, Operator, person_check_act_for, role_of
from accounts.models import Company
from core.errors import Forbidden
from keys.models import ApiKey, KeyLimit, Mode
from keys.restrictions import scopes_check_grant
from keys.verification import KeyGrant, LimitSnapshot

Grantor = Actor | Operator


def grant_of(grantor: Grantor) -> KeyGrant | None:
    """The key a grantor acts with (accounts sits below keys, so Actor types it loosely)."""
    return cast(KeyGrant | None, grantor.api_key)


def _limit_of(key: ApiKey) -> LimitSnapshot | None:
    limit: KeyLimit | None = getattr(key, "limit", None)  # usage.KeyLimit, through its one-to-one to the key
    if limit is None:
        return None
    return LimitSnapshot(limit.request_limit, limit.budget_limit_microcents, limit.reset_period, limit.is_enforced,
                         limit.counted_with_id)


def company_default_limit(company: Company) -> LimitSnapshot | None:
    if company.default_request_limit is None and company.default_budget_limit_microcents is None:
        return None
    return LimitSnapshot(company.default_request_limit, company.default_budget_limit_microcents,
                         company.default_limit_period, True)


def inherited_limit(grantor: Grantor, company: Company) -> LimitSnapshot | None:
    """The limit a new key starts with: that of the limited key creating it, counted on the same
    counter (so that making keys never makes quota), else the company's default for new keys,
    else none."""
    grant = grant_of(grantor)
    if grant is not None and grant.limit is not None and grant.limit.is_enforced:
        return dataclasses.replace(grant.limit, counter_key_id=grant.limit.counter_key_id or grant.key_id)
    return company_default_limit(company)


def grant_check(grantor: Grantor, *, owner_id: int, owner_role: str | None, scopes: Sequence[str] | None = None,
                obtains: LimitSnapshot | None | Literal[False] = False, mode: str = Mode.LIVE) -> None:
    """Refuse (403) unless `grantor` may act for this owner with these scopes. `obtains`: the
    limit of the key whose value the grantor is about to receive (None: unlimited), or False
    when no value changes hands; `mode`: that key's mode."""
    if isinstance(grantor, Operator):
        return
    grant = grant_of(grantor)
    if grant is not None and grant.presented_previous:
        until = grant.previous_expires_at.isoformat() if grant.previous_expires_at else "the end of its grace period"
        raise Forbidden(
            "This is the old value of a regenerated key, accepted until "
            f"{until} for reads and product calls only; it cannot manage keys. "
            "Use the new value.", code="grace_period_value")
    person_check_act_for(grantor, owner_id, owner_role)
    if grant is None:
        return
    if scopes is not None:
        scopes_check_grant(grant, scopes)
    if obtains is not False and grant.limit is not None and not grant.limit.covers(obtains):
        raise Forbidden(
            f"This key is limited ({_describe(grant.limit)}), so it may only obtain values of keys limited at least "
            "as strictly; sign in, or use a key without a limit. Nothing changed.", code="limit_not_allowed")
    if (obtains is not False and mode == Mode.TEST and grant.mode == Mode.LIVE and grant.limit is not None
            and grant.limit.is_enforced and grant.limit.budget_limit_microcents is not None):
        raise Forbidden(
            f"This key has a budget ({_describe(grant.limit)}), and a test key's requests are never charged, so it "
            "may not obtain the value of one; sign in, or use a key without a budget. Nothing changed.",
            code="limit_not_allowed")


def key_grant_check(grantor: Grantor, key: ApiKey, *, scopes: Sequence[str] | None = None,
                    obtains_value: bool = False) -> None:
    """grant_check for an existing key: its owner, and its scopes, limit and expiry when its
    value is about to be handed out."""
    if isinstance(grantor, Operator):
        return
    grant_check(grantor, owner_id=key.owner_id, owner_role=role_of(key.company_id, key.owner_id),
                scopes=key.scopes if obtains_value and scopes is None else scopes,
                obtains=_limit_of(key) if obtains_value else False, mode=key.mode)
    if obtains_value:
        expiry_check_grant(grantor, key.expires_at)


def inherited_expiry(grantor: Grantor, expires_at: datetime | None) -> datetime | None:
    """The expiry of a new key asked to have none: that of the key creating it, if it has one."""
    grant = grant_of(grantor)
    return grant.expires_at if expires_at is None and grant is not None else expires_at


def expiry_check_grant(grantor: Grantor, expires_at: datetime | None) -> None:
    """Refuse (403) a key with an expiry giving a key a later expiry, or none."""
    grant = grant_of(grantor)
    if grant is None or grant.expires_at is None:
        return
    if expires_at is None or expires_at > grant.expires_at:
        latest = grant.expires_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
        raise Forbidden(
            f"This key expires at {latest}, so it cannot give a key a later expiry, or none, nor obtain the value "
            f"of such a key: pick {latest} or earlier, or sign in. Nothing changed.", code="expiry_not_allowed")


def limits_grant_check(grantor: Grantor, key: ApiKey) -> None:
    """A key changes no limit but the one it set on itself while it had none: taking back what
    it gave up widens nothing, and without it a key that set its own limit to 0 would be locked
    out for good. A limited key changes no other limit (it could make a key, which inherits its
    limit, lift that and hold the value of an unlimited key), and no key loosens a limit a
    person set on it, even one they disabled for now."""
    grant = grant_of(grantor)
    if grant is None:
        return
    own: KeyLimit | None = getattr(key, "limit", None) if grant.key_id == key.pk else None
    if own is not None and own.set_by_itself:
        return
    if own is not None:
        raise Forbidden(
            "A person set this key's limits, so the key cannot change or remove them; sign in, or ask an admin. "
            "Nothing changed.", code="limit_not_allowed")
    if grant.limit is not None and grant.limit.is_enforced:
        raise Forbidden(
            f"This key is limited ({_describe(grant.limit)}), so it cannot change limits; sign in, or use a key "
            "without a limit. Nothing changed.", code="limit_not_allowed")


def _describe(limit: LimitSnapshot) -> str:
    parts = [f"{limit.request_limit} requests" if limit.request_limit is not None else "",
             f"{limit.budget_limit_microcents} microcents" if limit.budget_limit_microcents is not None else ""]
    return " and ".join(p for p in parts if p) + f" {limit.reset_period}"
