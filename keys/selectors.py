import time
import uuid
from datetime import timedelta
from typing import Any

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from accounts.access import Actor, key_check_manage
from accounts.models import Membership
from core import crypto
from core.errors import NotFound
from keys.models import LEGACY_PREFIX, ApiKey, KeyState

# What a key list filters on: three of the states, and the candidates to revoke.
UNUSED = "unused"
STATUSES = (KeyState.ACTIVE, KeyState.REVOKED, KeyState.EXPIRED, UNUSED)


def api_key_by_hashes(hashes: list[str]) -> tuple[ApiKey | None, str | None]:
    """The key stored under any of these hashes (current value, or the previous one during a
    grace period), and the hash it matched; one indexed query that also brings the owner, the
    company, the owner's role there and the key's limits."""
    role = Membership.objects.filter(user=OuterRef("owner"), company=OuterRef("company")).values("role")[:1]
    key = (
        ApiKey.objects.select_related("owner", "company", "limit")
        .annotate(owner_role=Subquery(role))
        .filter(Q(key_hash__in=hashes) | Q(previous_key_hash__in=hashes))
        .first()
    )
    if key is None:
        return None, None
    return key, next(h for h in hashes if h in (key.key_hash, key.previous_key_hash))


LEGACY_STATE_SECONDS = 60
_legacy_state: list[Any] = [0.0, None]  # [monotonic time it was read, (values exist, hashes exist)]


def legacy_state() -> tuple[bool, bool]:
    """(whether values in the old system's format may still work, whether any hash is still in
    its scheme): while neither holds, verification makes no legacy look-up at all. Each worker
    reads it at most once a minute, so keys just imported work within a minute."""
    read_at: float = _legacy_state[0]
    state: tuple[bool, bool] | None = _legacy_state[1]
    if state is None or time.monotonic() - read_at > LEGACY_STATE_SECONDS:
        in_grace = Q(previous_prefix=LEGACY_PREFIX, previous_expires_at__gt=timezone.now())
        legacy_scheme = crypto.LEGACY_SCHEME + crypto.HASH_SEPARATOR
        state = (ApiKey.objects.filter(Q(is_legacy=True) | in_grace).exists(),
                 ApiKey.objects.filter(Q(key_hash__startswith=legacy_scheme)
                                       | Q(previous_key_hash__startswith=legacy_scheme)).exists())
        _legacy_state[:] = [time.monotonic(), state]
    return state


def legacy_state_forget() -> None:
    """Read the legacy state again on next use (in this process)."""
    _legacy_state[:] = [0.0, None]


def api_key_get(actor: Actor, key_id: uuid.UUID | str) -> ApiKey:
    """A key the actor may manage, or NotFound / Forbidden by the one access rule."""
    key = ApiKey.objects.select_related("owner").filter(pk=key_id).first()
    if key is None:
        raise NotFound("No API key with this id in your company.", code="api_key_not_found")
    key_check_manage(actor, key)
    return key


def api_keys_of_company(actor: Actor, *, owner_id: int | None = None, status: str | None = None,
                        mode: str | None = None, search: str | None = None) -> QuerySet[ApiKey]:
    """`search`: part of the name, or the start of the key (its prefix, as shown: sk_live_ab12…)."""
    keys = ApiKey.objects.select_related("owner").filter(company=actor.company)
    if search:
        # The prefix as shown ends in "…"; a search of dots alone is no prefix (an empty one matched every key).
        prefix = search.rstrip("…. ")
        keys = keys.filter(Q(name__icontains=search) | Q(prefix__startswith=prefix) if prefix else
                           Q(name__icontains=search))
    if owner_id is not None:
        keys = keys.filter(owner_id=owner_id)
    if status == UNUSED:
        # Candidates to revoke: active, and not used for the company's unused_key_days.
        cutoff = timezone.now() - timedelta(days=actor.company.unused_key_days)
        keys = keys.active().filter(Q(last_used_at__lt=cutoff) | Q(last_used_at__isnull=True, created_at__lt=cutoff))
    elif status:
        keys = keys.in_state(status)
    if mode:
        keys = keys.filter(mode=mode)
    return keys.order_by("-created_at", "-pk")
