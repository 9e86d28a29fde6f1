"""Verified keys' snapshots (keys.verification.KeyGrant) cached by their hash, so most keyed
requests reach neither the database nor Redis.

Two layers. Each worker keeps its own copy of a key (a bounded plain dict: no round trip, no
unpickling). With Redis as the cache, a shared entry behind it lives API_KEY_CACHE_SECONDS
(300 s), so a worker's miss costs a round trip, not a query. A worker's copy lives as long,
but is served only while the worker is sure to have heard of every change made more than
API_KEY_LOCAL_SECONDS (0.5 s) ago: with Redis, while its invalidation channel is fresh
(keys.invalidation); with local memory only, while it read the change generation (below)
within that time. So with 2,000 keys in rotation a key need not come back twice a second to
stay in memory. With local memory and no change generation (API_KEY_CHANGES_IN_DATABASE off,
PostgreSQL's default), a copy lives API_KEY_LOCAL_SECONDS. Both layers hold the snapshot as
plain data (the shared entry as a tuple, its format version in the cache key), never a model
instance; an entry lives a fixed time from the read that made it, and use never extends it.

Every change to a key (revoke, regenerate, rename, limits, its owner's account or role, and
deletes of any of them, keys.signals and ApiKeyQuerySet.update) forgets it, at once and again
when the transaction commits. With Redis the change is also announced to every worker
(keys.invalidation), and forgetting returns only once each has dropped its copies: the change
is effective everywhere at once. With local memory only, nothing can tell the other worker
processes, so forgetting also adds one to a change generation, a single database row
(keys.models.KeyChangeGeneration), in the transaction making the change. That is
API_KEY_CHANGES_IN_DATABASE, on by default with SQLite only: SQLite queues writers anyway, but
on PostgreSQL the row's lock would queue concurrent key changes, and could deadlock two
transactions that lock keys in opposite orders. Before serving a
copy, a worker reads that row if its last read is older than API_KEY_LOCAL_SECONDS (one
SELECT per that time per process, not per request), and if it moved, drops every copy: other
workers drop theirs within API_KEY_LOCAL_SECONDS of the commit, well within the promised
second. Use (last_used_at, the request log, counters) forgets nothing and moves nothing, or
every copy would go at each flush. A change made behind Django's back (a bulk update of users
in a shell, SQL) forgets nothing either: with local memory as with Redis, a copy may then be
served until it expires, unless `manage.py forget_cached_keys` is run. Expiry needs no
invalidation: it is checked against the clock on every request.

Two races are closed. A shared entry carries a version of its key hash, read in the same
round trip and bumped by every forget, so a row read just before a revocation committed and
cached just after is stored under the old version and never served. A worker's copy is kept
only if no change was heard of since the lookup began (the epoch: advanced by every forget,
every announcement heard and every generation read that found it moved), and never past the
lifetime counted from that moment.
"""
import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import cache
from django.core.signals import setting_changed
from django.db import transaction
from django.db.models import F

from core.hot_settings import hot
from core.metrics import KEY_CACHE_LOOKUPS, labelled
from keys import invalidation

if TYPE_CHECKING:
    from keys.verification import KeyGrant

logger = logging.getLogger(__name__)
REDIS_BACKEND = "core.redis_client.ProcessRedisCache"
REDIS_BACKENDS = {REDIS_BACKEND, "django.core.cache.backends.redis.RedisCache"}
LOCAL_MAX_ENTRIES = 10_000
# Versions outlive every entry (API_KEY_CACHE_SECONDS), so a stale entry always meets its bump.
VERSION_SECONDS = 24 * 3600
_local: dict[str, tuple[float, "KeyGrant"]] = {}  # key hash -> (monotonic deadline, KeyGrant)
_lock = threading.Lock()  # a copy stored and a change heard of happen one after the other
_epoch = 0  # changes heard of by this worker
# With local memory only: the change generation (keys.models.KeyChangeGeneration) this worker
# last read, and when (monotonic, taken before the read). None: not read since it started.
_generation: int | None = None
_generation_read = float("-inf")
_touched: dict = {}  # key id -> when this worker last recorded its use (keys.services.api_keys_touch)
# The values that verified lately, by their SHA-256 (crypto.fingerprint) -> their hash under the
# newest pepper: a copy is found without the HMAC. What a value hashes to never changes while
# the peppers stay, so no key change drops these; a new list of peppers drops them all.
_recognised: dict[bytes, str] = {}


def _peppers_changed(setting: str, **kwargs) -> None:
    # In production new peppers mean a restart, which empties a worker's memory: the same here.
    if setting == "API_KEY_PEPPERS":
        _drop_copies(None)


setting_changed.connect(_peppers_changed, weak=False)


@dataclass(frozen=True)
class Lookup:
    """What remember() needs from the lookup that missed: when it began and what it saw."""

    deadline: float  # a copy made from this lookup lives until then at most
    epoch: int | None  # None: this worker cannot keep copies now (its listener is not subscribed)
    version: int | None  # the shared entry's version; None: not shared, or Redis was unreachable


def changes_counted(shared: bool | None = None) -> bool:
    """Whether workers learn of changes from the database's change generation: with local
    memory only, where API_KEY_CHANGES_IN_DATABASE is on (by default with SQLite). `shared` is
    cache_is_shared(), when the caller has read it already (the keyed request's lookup has)."""
    if shared is None:
        shared = cache_is_shared()
    return not shared and hot.API_KEY_CHANGES_IN_DATABASE


def cache_is_shared() -> bool:
    """Whether every worker sees the same cache (Redis), rather than one of its own."""
    return hot.CACHES["default"]["BACKEND"] in REDIS_BACKENDS


# The format of keys.verification.KeyGrant.to_data(): a new shape never meets an old entry.
SNAPSHOT_FORMAT = 3


def _name(key_hash: str) -> str:
    return f"keyhouse:key:v{SNAPSHOT_FORMAT}:{key_hash}"


def _version_name(key_hash: str) -> str:
    return f"keyhouse:keyver:{key_hash}"


def _drop_copies(key_hashes) -> None:
    """Forget this worker's copies of these hashes (all of them for None)."""
    global _epoch
    with _lock:
        _epoch += 1
        if key_hashes is None:
            _local.clear()
            _recognised.clear()
        for key_hash in key_hashes or ():
            _local.pop(key_hash, None)


def listening() -> bool:
    """Whether this worker hears of key changes: its listener is subscribed (started on first use)."""
    return invalidation.listener(_drop_copies).live


def clear_local() -> None:
    """Forget everything this worker keeps in memory: key copies, the change generation it
    last read and when keys were last used."""
    global _generation, _generation_read
    _drop_copies(None)
    with _lock:
        _generation, _generation_read = None, float("-inf")
    _touched.clear()


def _read_generation() -> int:
    from keys.models import KeyChangeGeneration

    found = KeyChangeGeneration.objects.filter(pk=KeyChangeGeneration.ROW).values_list("value", flat=True).first()
    return found or 0  # no row: no change yet (or a flushed test database)


def _hear_changes() -> None:
    """With local memory only: make sure this worker has dropped its copies of every key changed
    (by any process) API_KEY_LOCAL_SECONDS ago or earlier. Reads the generation when the last
    read is older than that: one SELECT per API_KEY_LOCAL_SECONDS per process, under the lock,
    so the threads that find it due wait for one read rather than all making their own."""
    global _epoch, _generation, _generation_read
    if time.monotonic() - _generation_read < hot.API_KEY_LOCAL_SECONDS:
        return
    with _lock:
        started = time.monotonic()
        if started - _generation_read < settings.API_KEY_LOCAL_SECONDS:
            return  # another thread read it while this one waited
        generation = _read_generation()
        if generation != _generation:
            # Some process changed a key (this one too, perhaps: it dropped those copies
            # already, but cannot tell its own change from another's). Which key is not
            # recorded: drop every copy, and keep none from a lookup begun before now.
            _epoch += 1
            _local.clear()
            _generation = generation
        # As of the moment the read began: a change committed after that may not be in it.
        _generation_read = started


def _bump_generation() -> None:
    """Count a change, in the transaction making it: other workers read it as it commits,
    never before (a rollback takes it back too)."""
    from keys.models import KeyChangeGeneration

    row = KeyChangeGeneration.objects.filter(pk=KeyChangeGeneration.ROW)
    if not row.update(value=F("value") + 1):
        # The first change ever (or after a test flushed the table); two first changes at once
        # both end here: get_or_create makes the row once, and each then adds its one.
        KeyChangeGeneration.objects.get_or_create(pk=KeyChangeGeneration.ROW)
        row.update(value=F("value") + 1)


def touch_due(key_id, now, resolution) -> bool:
    """Whether this worker should record the key's use now (not within `resolution` of the last
    it recorded: see touches_recorded)."""
    last = _touched.get(key_id)
    return last is None or now - last >= resolution


def touches_recorded(uses) -> None:
    """Note (key id, time) uses as recorded, once their transaction committed: a batch rolled
    back (a bad record, the database gone mid-write) must leave them due for the next try."""
    if len(_touched) + len(uses) > LOCAL_MAX_ENTRIES:
        _touched.clear()
    _touched.update(uses)


def _copy(key_hash: str) -> "KeyGrant | None":
    entry = _local.get(key_hash)
    return entry[1] if entry is not None and entry[0] > time.monotonic() else None


def _keep_copy(key_hash: str, key, lookup: Lookup) -> None:
    with _lock:
        if lookup.epoch == _epoch and lookup.deadline > time.monotonic():
            if len(_local) >= LOCAL_MAX_ENTRIES:
                _local.clear()
            _local[key_hash] = (lookup.deadline, key)


def recognise(fingerprint: bytes, key_hash: str) -> None:
    """Remember that the value with this fingerprint hashes to key_hash (it matched a key)."""
    if len(_recognised) >= LOCAL_MAX_ENTRIES:
        _recognised.clear()
    _recognised[fingerprint] = key_hash


def _keeps_copies(local_seconds: float, shared: bool, counted: bool) -> bool:
    """Whether this worker may serve its copies now (having heard of every change it must)."""
    if local_seconds <= 0:
        return False
    if shared:
        return invalidation.listener(_drop_copies).fresh()
    if counted:
        _hear_changes()
    return True


def local_copy(fingerprint: bytes) -> "KeyGrant | None":
    """This worker's copy of a current key's value, found by the value's fingerprint, if it
    may serve it now; else None (then verification takes its whole path, and cached_key). A
    legacy value's, or an old value's in a grace period, is left to that path: it decides what
    their format allows."""
    key_hash = _recognised.get(fingerprint)
    if key_hash is None:
        return None
    shared = cache_is_shared()
    # Heard of every change first: hearing one drops the copies it concerns.
    if not _keeps_copies(hot.API_KEY_LOCAL_SECONDS, shared, changes_counted(shared)):
        return None
    grant = _copy(key_hash)
    if grant is None or grant.is_legacy or grant.presented_previous:
        return None
    labelled(KEY_CACHE_LOOKUPS, "local").inc()
    return grant


def cached_key(key_hash: str) -> tuple["KeyGrant | None", Lookup | None]:
    """(the cached KeyGrant or None, the lookup). On a miss, pass the lookup to remember()
    with the snapshot made from the row read after it."""
    from keys.verification import KeyGrant

    local_seconds, shared = settings.API_KEY_LOCAL_SECONDS, cache_is_shared()
    counted = changes_counted(shared)
    keeps_copies = _keeps_copies(local_seconds, shared, counted)
    if keeps_copies and (grant := _copy(key_hash)) is not None:
        labelled(KEY_CACHE_LOOKUPS, "local").inc()
        return grant, None
    # Every change reaches a worker whose channel is fresh (Redis), or that read the change
    # generation within API_KEY_LOCAL_SECONDS, and a copy is served only then: so a copy may
    # live as long as a shared entry does, however rarely its key comes back. Told of nothing,
    # a worker's copy lives API_KEY_LOCAL_SECONDS.
    life = max(local_seconds, settings.API_KEY_CACHE_SECONDS) if shared or counted else local_seconds
    lookup = Lookup(time.monotonic() + life, _epoch if keeps_copies else None, None)
    if not shared or settings.API_KEY_CACHE_SECONDS <= 0:
        labelled(KEY_CACHE_LOOKUPS, "miss").inc()
        return None, lookup
    try:
        found = cache.get_many([_name(key_hash), _version_name(key_hash)])
    except Exception:  # a cache outage must not lock people out: fall back to the database
        logger.warning("Key cache unreachable; reading keys from the database.", exc_info=True)
        labelled(KEY_CACHE_LOOKUPS, "miss").inc()
        return None, lookup
    lookup = Lookup(lookup.deadline, lookup.epoch, found.get(_version_name(key_hash), 0))
    entry = found.get(_name(key_hash))
    if entry is None or entry[0] != lookup.version:
        labelled(KEY_CACHE_LOOKUPS, "miss").inc()
        return None, lookup
    labelled(KEY_CACHE_LOOKUPS, "shared").inc()
    grant = KeyGrant.from_data(entry[1])
    _keep_copy(key_hash, grant, lookup)
    return grant, lookup


def remember(grant, key_hash: str, lookup: Lookup) -> None:
    """Cache a snapshot under the hash it was found by, as of the lookup that missed before
    its row was read."""
    _keep_copy(key_hash, grant, lookup)
    if lookup.version is None or settings.API_KEY_CACHE_SECONDS <= 0:
        return  # no shared cache, or it was unreachable when looked up: the version is unknown
    try:
        cache.set(_name(key_hash), (lookup.version, grant.to_data()), settings.API_KEY_CACHE_SECONDS)
    except Exception:
        logger.warning("Key cache unreachable; key not cached.", exc_info=True)


def _forget(key_hashes, announce: bool) -> None:
    _drop_copies(key_hashes)
    if not cache_is_shared():
        return
    try:
        _outdate_shared(key_hashes)
        if announce and settings.API_KEY_LOCAL_SECONDS > 0:
            invalidation.announce(key_hashes)
    except Exception:
        logger.error("Key cache unreachable; a changed key may be served from cache until it expires "
                     "(API_KEY_CACHE_SECONDS). Run `manage.py forget_cached_keys` once the cache answers.",
                     exc_info=True)


def _outdate_shared(key_hashes) -> None:
    """Bump each hash's version and delete its shared entry: no entry cached before is served."""
    for key_hash in key_hashes:
        cache.add(_version_name(key_hash), 0, VERSION_SECONDS)
        cache.incr(_version_name(key_hash))
    cache.delete_many([_name(h) for h in key_hashes])


def retire(key_hash: str) -> None:
    """A hash its key no longer has (re-hashed under the newest pepper). Its shared entry outlives
    a restart: were the peppers rolled back, it would answer for the key as it was, revoked since
    or not. Workers' copies need nothing: new peppers restart them."""
    if not cache_is_shared():
        return
    try:
        _outdate_shared([key_hash])
    except Exception:
        logger.warning("Key cache unreachable; an entry under a key's old hash stays until it expires.",
                       exc_info=True)


def forget(*key_hashes: str) -> None:
    """At once, and again (telling every worker) when the transaction commits. With local
    memory only, every worker learns of it from the change generation, counted in this
    transaction: every path that changes what a KeyGrant holds comes through here."""
    _forget(key_hashes, announce=False)
    if key_hashes and changes_counted():
        _bump_generation()
    transaction.on_commit(lambda: _forget(key_hashes, announce=True))


def hashes_of(key) -> list[str]:
    """What a key is cached under: its current value, and its previous one during a grace period."""
    return [h for h in (key.key_hash, key.previous_key_hash) if h]


def forget_key(key) -> None:
    """Every cache entry of a key."""
    forget(*hashes_of(key))
