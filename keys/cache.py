"""Verified keys cached by their hash, so most keyed requests never reach the database.

Every change to a key (revoke, regenerate, rename, expiry, limits) forgets its entry, at
once and again when the transaction commits, so a request racing the change cannot put the
old row back. With a shared Redis cache that makes a revocation effective in every worker at
once; with per-worker local memory, other workers drop their copy within
API_KEY_CACHE_SECONDS (1 second by default). Expiry needs no invalidation: it is checked
against the clock on every request.

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
_local: dict[str, tuple[float, object]] = {}


def cache_is_shared() -> bool:
    """Whether every worker sees the same cache (Redis), rather than one of its own."""
    return settings.CACHES["default"]["BACKEND"] == REDIS_BACKEND


def _name(key_hash: str) -> str:
    return f"keyhouse:key:{key_hash}"


def clear_local() -> None:
    _local.clear()


def cached_key(key_hash: str):
    if not cache_is_shared():
        entry = _local.get(key_hash)
        return entry[1] if entry is not None and entry[0] > time.monotonic() else None
    try:
        return cache.get(_name(key_hash))
    except Exception:  # a cache outage must not lock people out: fall back to the database
        logger.warning("Key cache unreachable; reading keys from the database.", exc_info=True)
        return None


def remember(key, digest: str | None = None) -> None:
    """Cache under the digest it was found by: the current hash, or the previous one during a
    regenerate's grace period."""
    if not cache_is_shared():
        if len(_local) >= LOCAL_MAX_ENTRIES:
            _local.clear()
        if settings.API_KEY_CACHE_SECONDS > 0:
            _local[digest or key.key_hash] = (time.monotonic() + settings.API_KEY_CACHE_SECONDS, key)
        return
    try:
        cache.set(_name(digest or key.key_hash), key, settings.API_KEY_CACHE_SECONDS)
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
            cache.delete_many(names)
        except Exception:
            logger.error("Key cache unreachable; a changed key may be served from cache until it expires.",
                         exc_info=True)

    delete()
    transaction.on_commit(delete)


def forget_key(key) -> None:
    """Every cache entry of a key: its current value, and its previous one during a grace period."""
    forget(*filter(None, [key.key_hash, key.previous_key_hash]))
