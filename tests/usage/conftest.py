"""Fixtures shared by the usage tests."""
import pytest


@pytest.fixture
def own_redis(settings):
    """The cache, and so the counter store, is a Redis of the test's own."""
    from keys.cache import REDIS_BACKEND
    from tests.redis_server import OwnRedis

    server = OwnRedis().start()
    settings.CACHES = {"default": {"BACKEND": REDIS_BACKEND, "LOCATION": server.url}}
    yield server
    server.stop()
