"""Every key route × every kind of caller, and what the database holds afterwards."""
import pytest
from rest_framework.test import APIClient

from keys.models import ApiKey
from keys.services import api_key_revoke
from tests.clients import key_client, problem, session_client
from tests.factories import make_key

pytestmark = pytest.mark.django_db

CALLERS = ["anonymous", "key_owner", "key_owner_by_key", "colleague", "admin", "owner",
           "other_admin", "other_company_key", "revoked_key"]


@pytest.fixture
def clients(alice, bob, admin, owner, outsider_admin):
    revoked, revoked_raw = make_key(alice, name="old")
    api_key_revoke(api_key=revoked, actor_user=alice)
    return {
        "anonymous": APIClient(),
        "key_owner": session_client(alice),
        "key_owner_by_key": key_client(make_key(alice, name="script")[1]),
        "colleague": session_client(bob),
        "admin": session_client(admin),
        "owner": session_client(owner),
        "other_admin": session_client(outsider_admin),
        "other_company_key": key_client(make_key(outsider_admin)[1], "X-API-Key"),
        "revoked_key": key_client(revoked_raw, "Authorization"),
    }


def _expect(allowed: int):
    """Statuses for one route: 401 without valid credentials, 403 for a colleague, 404 outside."""
    return {
        "anonymous": 401, "key_owner": allowed, "key_owner_by_key": allowed, "colleague": 403,
        "admin": allowed, "owner": allowed, "other_admin": 404, "other_company_key": 404, "revoked_key": 401,
    }


ROUTES = {
    "list user keys": ("get", "/api/v1/users/{user}/api-keys", None, 200),
    "create user key": ("post", "/api/v1/users/{user}/api-keys", {"name": "New"}, 201),
    "revoke user key": ("post", "/api/v1/users/{user}/api-keys/{key}/revoke", None, 204),
    "get key": ("get", "/api/v1/api-keys/{key}", None, 200),
    "rename key": ("patch", "/api/v1/api-keys/{key}", {"name": "Renamed"}, 200),
    "delete key": ("delete", "/api/v1/api-keys/{key}", None, 204),
    "regenerate key": ("post", "/api/v1/api-keys/{key}/regenerate", None, 200),
    "decrypt key": ("get", "/api/v1/api-keys/{key}/decrypt", None, 410),
}


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route", ROUTES)
def test_route_by_caller(route, caller, clients, alice, alice_key):
    method, template, body, allowed = ROUTES[route]
    key, _ = alice_key
    before = ApiKey.objects.values().get(pk=key.pk)
    count_before = ApiKey.objects.count()
    url = template.format(user=alice.pk, key=key.pk)
    response = getattr(clients[caller], method)(url, body, format="json")

    expected = _expect(allowed)[caller]
    assert response.status_code == expected, response.content
    if expected >= 400:
        problem(response)
        assert ApiKey.objects.values().get(pk=key.pk) == before
        assert ApiKey.objects.count() == count_before


@pytest.mark.parametrize("caller", CALLERS)
def test_me_by_caller(caller, clients):
    response = clients[caller].get("/api/v1/me")
    assert response.status_code == {"anonymous": 401, "revoked_key": 401}.get(caller, 200)


@pytest.mark.parametrize("caller, sees", [
    ("key_owner", {"Alice's laptop", "old", "script"}),
    ("colleague", set()),
    ("admin", set()),
    ("other_admin", {"Test key"}),  # oscar owns the other company's key
    ("other_company_key", {"Test key"}),
])
def test_plain_list_shows_only_the_callers_own_keys(caller, sees, clients, alice_key):
    response = clients[caller].get("/api/v1/api-keys")
    assert response.status_code == 200
    assert {item["name"] for item in response.json()["items"]} == sees


@pytest.mark.parametrize("caller, status", [
    ("key_owner", 403), ("colleague", 403), ("admin", 200), ("owner", 200), ("other_admin", 200),
])
def test_company_scope_is_for_admins_and_owners_of_that_company(caller, status, clients, alice_key):
    response = clients[caller].get("/api/v1/api-keys?scope=company")
    assert response.status_code == status
    if caller in ("admin", "owner"):
        assert {i["owner"]["username"] for i in response.json()["items"]} == {"alice"}
    if caller == "other_admin":
        assert {i["owner"]["username"] for i in response.json()["items"]} == {"oscar"}
