import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from rest_framework.test import APIClient

from accounts.models import Role
from tests.factories import CompanyFactory, make_key, member


@pytest.fixture
def company():
    return CompanyFactory(name="Acme")


@pytest.fixture
def other_company():
    return CompanyFactory(name="Globex")


def person(company_fixture: str, role: str, username: str):
    """A fixture: a user of that company's fixture, with that role."""
    @pytest.fixture
    def fixture(request):
        return member(request.getfixturevalue(company_fixture), role, username=username)
    return fixture


owner = person("company", Role.OWNER, "olivia")
admin = person("company", Role.ADMIN, "adam")
alice = person("company", Role.MEMBER, "alice")  # a plain member
bob = person("company", Role.MEMBER, "bob")  # alice's colleague, also a plain member
outsider_admin = person("other_company", Role.ADMIN, "oscar")


@pytest.fixture
def alice_key(alice):
    """(ApiKey, raw) owned by alice."""
    return make_key(alice, name="Alice's laptop")


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def unreachable_redis(settings):
    """The cache, and so the counter store, is a Redis that nobody listens for."""
    from keys.cache import REDIS_BACKEND

    settings.CACHES = {"default": {"BACKEND": REDIS_BACKEND, "LOCATION": "redis://127.0.0.1:9/0"}}


@pytest.fixture(autouse=True)
def _empty_cache():
    """Cached keys and counters must not leak from one test into the next."""
    from django.core.cache import cache

    from keys.cache import clear_local
    from keys.selectors import legacy_state_forget

    cache.clear()
    clear_local()
    legacy_state_forget()


@pytest.fixture
def wsgi_in_test_transaction():
    """Like Django's test client: a request must not close the connection holding the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)
