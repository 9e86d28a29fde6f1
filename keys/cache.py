"""Verified keys cached by their hash, so most keyed requests never reach the database.

Every change to a key (revoke, regenerate, rename, expiry, limits) forgets its entry, at
once and again when the transaction commits, so a request racing the change cannot put the
old row back. With a shared Redis cache that makes a revocation effective in every worker at
once; with per-worker local memory, other workers drop their copy within
API_KEY_CACHE_SECONDS (0.5 s by default, so well within a second). Expiry needs no invalidation: it is checked
against the clock on every request.

A shared cache also keeps a version per key hash, read in the same round trip as the entry and
bumped by every forget: a request that read the row just before a revocation committed, and
caches it just after, stores it under the old version, so it is never served. With local
memory the copy is the worker's own and lives API_KEY_CACHE_SECONDS at most.

When the cache is not shared (local memory), keys live in a plain dict of the worker instead
of Django's local-memory cache: same lifetime and same per-worker scope, without pickling
and unpickling the key, its owner, company and limits on every request.
"""
import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)
REDIS_BACKEND = "django.core.cache.backends.redis.RedisCache"
LOCAL_MAX_ENTRIES = 10_000
# Versions outlive every entry (API_KEY_CACHE_SECONDS), so a stale entry always meets its bump.
VERSION_SECONDS = 24 * 3600
_local: dict[str, tuple[float, object]] = {}


def cache_is_shared() -> bool:
    """Whether every worker sees the same cache (Redis), rather than one of its own."""
    return settings.CACHES["default"]["BACKEND"] == REDIS_BACKEND


def _name(key_hash: str) -> str:
    return f"keyhouse:key:{key_hash}"


def _version_name(key_hash: str) -> str:
    return f"keyhouse:keyver:{key_hash}"


def clear_local() -> None:
    _local.clear()


def cached_key(key_hash: str) -> tuple[object | None, int | None]:
    """(the cached key or None, the version seen). On a miss, pass that version to remember()
    with the row read from the database after it."""
    if not cache_is_shared():
        entry = _local.get(key_hash)
        return (entry[1] if entry is not None and entry[0] > time.monotonic() else None), None
    try:
        found = cache.get_many([_name(key_hash), _version_name(key_hash)])
    except Exception:  # a cache outage must not lock people out: fall back to the database
        logger.warning("Key cache unreachable; reading keys from the database.", exc_info=True)
        return None, None
    version = found.get(_version_name(key_hash), 0)
    entry = found.get(_name(key_hash))
    return (entry[1] if entry is not None and entry[0] == version else None), version


def remember(key, digest: str | None = None, version: int | None = None) -> None:
    """Cache under the digest it was found by (the current hash, or the previous one during a
    regenerate's grace period) and, when shared, the version seen before it was read."""
    key_hash = digest or getattr(key, "_cache_digest", None) or key.key_hash
    key._cache_digest = key_hash
    if not cache_is_shared():
        if len(_local) >= LOCAL_MAX_ENTRIES:
            _local.clear()
        if settings.API_KEY_CACHE_SECONDS > 0:
            _local[key_hash] = (time.monotonic() + settings.API_KEY_CACHE_SECONDS, key)
        return
    version = getattr(key, "_cache_version", None) if version is None else version
    if version is None:
        return  # the cache was unreachable when it was looked up: the version is unknown
    key._cache_version = version
    try:
        cache.set(_name(key_hash), (version, key), settings.API_KEY_CACHE_SECONDS)
    except Exception:
        logger.warning("Key cache unreachable; key not cached.", exc_info=True)


def forget(*key_hashes: str) -> None:
    names = [_name(h) for h in key_hashes]

    def delete():
        for key_hash in key_hashes:
            _local.pop(key_hash, None)
        if not cache_is_shared():
            return
        try:
            for key_hash in key_hashes:
                cache.add(_version_name(key_hash), 0, VERSION_SECONDS)
                cache.incr(_version_name(key_hash))
            cache.delete_many(names)
        except Exception:
            logger.error("Key cache unreachable; a changed key may be served from cache until it expires.",
                         exc_info=True)

    delete()
    transaction.on_commit(delete)


def forget_key(key) -> None:
    """Every cache entry of a key: its current value, and its previous one during a grace period."""
    forget(*filter(None, [key.key_hash, key.previous_key_hash]))
