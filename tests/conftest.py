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


@pytest.fixture
def owner(company):
    return member(company, Role.OWNER, username="olivia")


@pytest.fixture
def admin(company):
    return member(company, Role.ADMIN, username="adam")


@pytest.fixture
def alice(company):
    """A plain member."""
    return member(company, Role.MEMBER, username="alice")


@pytest.fixture
def bob(company):
    """Alice's colleague, also a plain member."""
    return member(company, Role.MEMBER, username="bob")


@pytest.fixture
def outsider_admin(other_company):
    return member(other_company, Role.ADMIN, username="oscar")


@pytest.fixture
def alice_key(alice):
    """(ApiKey, raw) owned by alice."""
    return make_key(alice, name="Alice's laptop")


@pytest.fixture
def api():
    return APIClient()


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
