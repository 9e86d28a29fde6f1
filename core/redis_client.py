"""One redis.Redis per Django Redis cache, for the commands Django's cache API has no word
for (Lua scripts, pub/sub, lists). Django's get_client() builds a new redis.Redis on every
call, and filling its 170 response callbacks cost more of a request than the round trip."""
from django.core.cache import caches


def redis_client(backend=None):
    """The client of this thread's default cache (or of `backend`); its pool is thread-safe."""
    backend = backend or caches["default"]
    client = backend.__dict__.get("keyhouse_redis")
    if client is None:
        client = backend.keyhouse_redis = backend._cache.get_client(write=True)
    return client
