"""The one verification core. `verify(raw)` checks a presented credential and returns one
value, a Verification: an outcome (core.outcomes.KeyStatus) and a frozen snapshot of what
the key may do (KeyGrant). Authentication, restrictions, limits and the request log read that
value and nothing else; each later stage replaces it with a copy that says what it decided.

The snapshot is plain data, so both cache tiers (keys.cache) keep it as it is, never a model
instance. Everything that depends on the clock (expiry, the end of a grace period) is decided
from the snapshot on every request, so a cached snapshot never outlives its validity.
"""
import dataclasses
import functools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import DEFAULT_DB_ALIAS, models
from django.db.models.base import ModelState
from django.views.decorators.debug import sensitive_variables

from accounts.models import Company
from core import crypto
from core.outcomes import KeyRefused, KeyStatus
from keys import cache as key_cache
from keys.selectors import api_key_by_hashes, legacy_state

if TYPE_CHECKING:
    from keys.models import ApiKey

M = TypeVar("M", bound=models.Model)

# A value longer than this is no key of ours nor of the system we replace: no lookup at all.
MAX_LEGACY_LENGTH = 512


@dataclass(frozen=True)
class LimitSnapshot:
    request_limit: int | None
    budget_limit_microcents: int | None
    reset_period: str
    is_enforced: bool
    counter_key_id: uuid.UUID | None = None  # whose counter the use counts against; None: the key's own

    def covers(self, other: "LimitSnapshot | None") -> bool:
        """Whether `other` is at least as strict as this limit (same period, no higher bound)."""
        if not self.is_enforced:
            return True
        if other is None or not other.is_enforced or other.reset_period != self.reset_period:
            return False
        return all(mine is None or (theirs is not None and theirs <= mine) for mine, theirs in (
            (self.request_limit, other.request_limit),
            (self.budget_limit_microcents, other.budget_limit_microcents)))


@dataclass(frozen=True)
class KeyGrant:
    """What one presented value of a key may do, as of the moment it was read."""

    key_id: uuid.UUID
    name: str
    prefix: str
    mode: str
    company_id: int
    company_name: str
    owner_id: int
    owner_username: str
    owner_email: str
    owner_is_active: bool
    owner_role: str | None  # None: the owner is no longer a member of the key's company
    scopes: tuple[str, ...]
    allowed_ips: tuple[str, ...]
    allowed_referrers: tuple[str, ...]
    expires_at: datetime | None
    revoked_at: datetime | None
    previous_expires_at: datetime | None
    presented_previous: bool  # the value presented is the old one, in a regenerate's grace period
    is_legacy: bool
    limit: LimitSnapshot | None

    @property
    def pk(self) -> uuid.UUID:
        return self.key_id

    @classmethod
    def from_row(cls, key: "ApiKey", *, presented_previous: bool) -> "KeyGrant":
        """From an ApiKey read with its owner, company, limit and owner_role (keys.selectors)."""
        limit = getattr(key, "limit", None)
        return cls(
            key_id=key.pk, name=key.name, prefix=key.prefix, mode=key.mode, company_id=key.company_id,
            company_name=key.company.name, owner_id=key.owner_id, owner_username=key.owner.get_username(),
            owner_email=key.owner.email, owner_is_active=key.owner.is_active, owner_role=key.owner_role,  # type: ignore[attr-defined]  # annotated by keys.selectors
            scopes=tuple(key.scopes), allowed_ips=tuple(key.allowed_ips),
            allowed_referrers=tuple(key.allowed_referrers), expires_at=key.expires_at, revoked_at=key.revoked_at,
            previous_expires_at=key.previous_expires_at, presented_previous=presented_previous,
            is_legacy=key.is_legacy,
            limit=None if limit is None else LimitSnapshot(limit.request_limit, limit.budget_limit_microcents,
                                                           limit.reset_period, limit.is_enforced,
                                                           limit.counted_with_id))

    def to_data(self) -> tuple[Any, ...]:
        """Plain data for the shared cache; a change of fields bumps keys.cache.SNAPSHOT_FORMAT."""
        return dataclasses.astuple(self)

    @classmethod
    def from_data(cls, data: tuple[Any, ...]) -> "KeyGrant":
        *fields, limit = data  # every field but the last (the limit) in order
        return cls(*fields, limit=None if limit is None else LimitSnapshot(*limit))  # type: ignore[misc]

    def status_at(self, now: datetime) -> tuple[KeyStatus, dict[str, Any]]:
        """The outcome of presenting this value now, and what its message names."""
        if self.revoked_at:
            return KeyStatus.REVOKED, {"revoked_at": self.revoked_at}
        if self.presented_previous and not (self.previous_expires_at and now < self.previous_expires_at):
            until = (
                f"; it stopped working at {self.previous_expires_at.isoformat()}" if self.previous_expires_at else ""
            )
            return KeyStatus.REGENERATED, {"until": until}
        if self.expires_at and self.expires_at <= now:
            return KeyStatus.EXPIRED, {"expired_at": self.expires_at.isoformat()}
        if not self.owner_is_active or self.owner_role is None:
            return KeyStatus.OWNER_INACTIVE, {}
        return KeyStatus.VALID, {}

    def owner(self) -> User:
        """The owner as a User, with the fields the snapshot holds; any other is read on use."""
        return _partial(_user_model(), id=self.owner_id, username=self.owner_username, email=self.owner_email,
                        is_active=self.owner_is_active)

    def company(self) -> Company:
        return _partial(Company, id=self.company_id, name=self.company_name)


@functools.cache
def _user_model() -> type[User]:
    return get_user_model()


def _partial(model: type[M], **values: Any) -> M:
    """A model instance with only these fields loaded, as Model.from_db makes one for a query
    with .only(): Django reads any other field on first use. Built without Model.__init__,
    which costs more than the rest of verification on a cached key."""
    instance = model.__new__(model)
    instance._state = ModelState()
    instance._state.adding, instance._state.db = False, DEFAULT_DB_ALIAS
    instance.__dict__.update(values)
    return instance


SCOPE_UNKNOWN = "?"


@dataclass(frozen=True)
class Verification:
    """One request's key, as far as it got: each stage replaces it with what it decided."""

    status: KeyStatus
    grant: KeyGrant | None = None
    context: dict[str, Any] | None = None  # what the outcome's message names
    details: dict[str, Any] | None = None  # extension members of the problem (core.errors)
    charge: tuple[str, int] | None = None  # (tier, microcents) the limit check admitted it at
    quota: object | None = None  # usage.limits.Quota of a limited key
    # The scope this request needs (keys.restrictions.needed_scope), once the restrictions check
    # worked it out; None is a scope too ("any key"), so "not worked out" is its own value.
    scope: str | None = SCOPE_UNKNOWN

    @property
    def is_valid(self) -> bool:
        return self.status == KeyStatus.VALID

    def refused(self, status: KeyStatus, *, details: dict[str, Any] | None = None,
                **context: Any) -> "Verification":
        return self._with(status=status, context=context, details=details or {})

    def scoped(self, scope: str | None) -> "Verification":
        return self._with(scope=scope)

    def admitted(self, *, charge: tuple[str, int], quota: object | None = None) -> "Verification":
        return self._with(charge=charge, quota=quota)

    def _with(self, **changes: Any) -> "Verification":
        """dataclasses.replace without re-running __init__: this runs on every keyed request."""
        copy = object.__new__(Verification)
        copy.__dict__.update(self.__dict__, **changes)
        return copy

    def refusal(self, headers: dict[str, str] | None = None) -> KeyRefused:
        return KeyRefused(self.status, extra=self.details, headers=headers, **(self.context or {}))


_VALID = Verification(KeyStatus.VALID)  # copied for each valid key: cheaper than the frozen __init__


@sensitive_variables()
def verify(raw: str | None, now: datetime | None = None) -> Verification:
    """The outcome of presenting `raw` (None: nothing was presented)."""
    if raw is None:
        return Verification(KeyStatus.MISSING)
    if not raw:
        return Verification(KeyStatus.MALFORMED, context={"why": "the API key header is empty"},
                            details={"reason": "empty"})
    # The hot path: a value this worker verified lately is found by its fingerprint alone.
    # Only the exact value a stored hash was made from finds a copy, so its shape and checksum
    # were checked when the copy was made.
    fingerprint = crypto.fingerprint(raw)
    if (grant := key_cache.local_copy(fingerprint)) is not None:
        return _outcome(grant, now)
    legacy_values, legacy_hashes = legacy_state()
    try:
        crypto.parse_key(raw)
    except crypto.MalformedKey as exc:
        malformed = Verification(KeyStatus.MALFORMED, context={"why": str(exc)}, details={"reason": "malformed"})
        # Keys imported from the system we replace have their own format (import_legacy_keys).
        if len(raw) > MAX_LEGACY_LENGTH or not legacy_values:
            return malformed
        grant = _grant_for(raw, fingerprint, legacy=legacy_hashes)
        if grant is None or not (grant.is_legacy or grant.presented_previous):
            return malformed
    else:
        grant = _grant_for(raw, fingerprint, legacy=legacy_hashes)
    if grant is None:
        return Verification(KeyStatus.UNKNOWN, details={"reason": "unknown"})
    return _outcome(grant, now)


def _outcome(grant: KeyGrant, now: datetime | None) -> Verification:
    # datetime.now(UTC) is timezone.now() under USE_TZ = True (config.settings), for a third of its cost.
    status, context = grant.status_at(now or datetime.now(UTC))
    if status == KeyStatus.VALID:
        return _VALID._with(grant=grant)
    details = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in context.items() if k != "until"}
    if status == KeyStatus.REGENERATED:
        details = {"reason": "regenerated"}
    return Verification(status, grant, context=context, details=details)


@sensitive_variables()
def _grant_for(raw: str, fingerprint: bytes, *, legacy: bool) -> KeyGrant | None:
    """From the key cache, else the database. A key found under an older pepper or the legacy
    scheme is re-hashed under the newest pepper first, so that its cache entry, and every
    later lookup, go by that one hash."""
    hashes = crypto.candidate_hashes(raw, legacy=legacy)
    newest = hashes[0]
    grant, lookup = key_cache.cached_key(newest)
    if grant is not None or lookup is None:  # a hit comes without a lookup
        if grant is not None:
            _recognise(grant, fingerprint, newest)
        return grant
    key, matched = api_key_by_hashes(hashes)
    if key is None or matched is None:
        return None
    if matched != newest and not key.rehash(matched, newest):
        # The row changed between the read and the re-hash (regenerated, revoked): read it again,
        # and cache nothing from this lookup, whose version belonged to the old hash.
        key, matched = api_key_by_hashes(hashes)
        return None if key is None else KeyGrant.from_row(key, presented_previous=matched == key.previous_key_hash)
    if matched != newest:
        key_cache.retire(matched)
    grant = KeyGrant.from_row(key, presented_previous=matched == key.previous_key_hash)
    key_cache.remember(grant, newest, lookup)
    _recognise(grant, fingerprint, newest)
    return grant


def _recognise(grant: KeyGrant, fingerprint: bytes, key_hash: str) -> None:
    """Only a value whose copy may be served finds it by its fingerprint (keys.cache.local_copy).
    Not a legacy value: its SHA-256 is the unpeppered hash the system we replace stored, of a
    value that may be short enough to guess; nor an old value in its grace period."""
    if not (grant.is_legacy or grant.presented_previous):
        key_cache.recognise(fingerprint, key_hash)
