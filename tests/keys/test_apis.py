from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Membership, Role
from core import crypto
from keys.models import ApiKey
from tests.clients import key_client, named_inputs, problem, session_client
from tests.factories import CompanyFactory, make_key

pytestmark = pytest.mark.django_db

LIST_FIELDS = {"id", "name", "prefix", "mode", "owner", "created_at", "expires_at", "last_used_at",
               "revoked_at", "is_active", "scopes", "previous_prefix", "previous_expires_at", "is_legacy"}


def test_create_returns_the_raw_key_once_and_stores_only_its_hash(alice):
    response = session_client(alice).post(
        f"/api/v1/users/{alice.pk}/api-keys",
        {"name": "  Production Server  ", "expires_at": "2099-01-31T00:00:00Z", "mode": "test"},
        format="json",
    )
    assert response.status_code == 201
    assert response["Cache-Control"] == "private, no-store"
    body = response.json()
    assert set(body) == LIST_FIELDS | {"key"}
    assert body["name"] == "Production Server"
    assert body["mode"] == "test" and body["key"].startswith("sk_test_")
    assert body["prefix"] == body["key"][:12]
    assert body["expires_at"] == "2099-01-31T00:00:00Z" and body["is_active"] is True
    stored = ApiKey.objects.get(pk=body["id"])
    assert stored.key_hash == crypto.hash_key(body["key"])
    assert stored.owner == alice and stored.created_by == alice

    listed = session_client(alice).get(f"/api/v1/users/{alice.pk}/api-keys").json()
    assert listed["total"] == 1
    assert set(listed["items"][0]) == LIST_FIELDS
    assert body["key"] not in str(listed)


def test_admin_creates_a_key_owned_by_the_member(admin, alice):
    response = session_client(admin).post(f"/api/v1/users/{alice.pk}/api-keys", {"name": "For Alice"}, format="json")
    assert response.status_code == 201
    key = ApiKey.objects.get(pk=response.json()["id"])
    assert (key.owner, key.created_by) == (alice, admin)
    assert key_client(response.json()["key"]).get("/api/v1/me").json()["user"]["username"] == "alice"


def test_offset_expiry_is_kept_as_the_same_instant(alice):
    response = session_client(alice).post(
        "/api/v1/api-keys", {"name": "x", "expires_at": "2099-06-01T12:00:00+02:00"}, format="json"
    )
    assert response.status_code == 201
    assert ApiKey.objects.get().expires_at.isoformat() == "2099-06-01T10:00:00+00:00"


INVALID_CREATES = {
    "empty name": ({"name": ""}, "name"),
    "blank name": ({"name": "   "}, "name"),
    "name of 101 characters": ({"name": "x" * 101}, "name"),
    "missing name": ({}, "name"),
    "name not a string": ({"name": {"a": 1}}, "name"),
    "NUL byte": ({"name": "a\x00b"}, "name"),
    "expiry in the past": ({"name": "x", "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
    "expiry without zone": ({"name": "x", "expires_at": "2099-01-01T00:00:00"}, "expires_at"),
    "expiry as a date": ({"name": "x", "expires_at": "2099-01-01"}, "expires_at"),
    "expiry as a number": ({"name": "x", "expires_at": 4102444800}, "expires_at"),
    "unknown mode": ({"name": "x", "mode": "prod"}, "mode"),
    "unknown field": ({"name": "x", "expires": "2099-01-01T00:00:00Z"}, "expires"),
}


@pytest.mark.parametrize("case", INVALID_CREATES)
def test_invalid_create_is_400_naming_the_field_and_creates_nothing(case, alice):
    payload, field = INVALID_CREATES[case]
    response = session_client(alice).post("/api/v1/api-keys", payload, format="json")
    assert response.status_code == 400
    error = problem(response)
    assert error["code"] == "validation_error"
    assert field in named_inputs(error) or field in error["detail"]
    assert ApiKey.objects.count() == 0


@pytest.mark.parametrize("body, content_type", [
    ("{not json", "application/json"),
    ("[1, 2]", "application/json"),
    ("name=x", "application/x-www-form-urlencoded"),
])
def test_bodies_that_are_not_a_json_object_are_refused(body, content_type, alice):
    response = session_client(alice).generic("POST", "/api/v1/api-keys", body, content_type=content_type)
    assert response.status_code in (400, 415)
    assert response.json()["code"] in ("malformed_request", "validation_error", "unsupported_media_type")
    assert ApiKey.objects.count() == 0


def test_revoked_key_is_refused_on_the_very_next_request(alice, alice_key):
    key, raw = alice_key
    client = key_client(raw)
    assert client.get("/api/v1/me").status_code == 200
    assert session_client(alice).delete(f"/api/v1/api-keys/{key.pk}").status_code == 204
    assert client.get("/api/v1/me").json()["code"] == "revoked_api_key"
    key.refresh_from_db()
    assert key.revoked_by == alice and key.revoked_at is not None and not key.is_active


def test_revoking_twice_keeps_the_first_revocation(alice, admin, alice_key):
    key, _ = alice_key
    session_client(alice).post(f"/api/v1/users/{alice.pk}/api-keys/{key.pk}/revoke")
    first = ApiKey.objects.get(pk=key.pk).revoked_at
    assert session_client(admin).post(f"/api/v1/users/{alice.pk}/api-keys/{key.pk}/revoke").status_code == 204
    key.refresh_from_db()
    assert (key.revoked_at, key.revoked_by) == (first, alice)


def test_revoke_through_another_users_route_is_404(alice, bob, admin, alice_key):
    key, _ = alice_key
    response = session_client(admin).post(f"/api/v1/users/{bob.pk}/api-keys/{key.pk}/revoke")
    assert response.status_code == 404
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None


def test_regenerate_keeps_id_and_settings_and_kills_the_old_value(alice, alice_key):
    key, old_raw = alice_key
    response = key_client(old_raw).post(f"/api/v1/api-keys/{key.pk}/regenerate")
    assert response.status_code == 200 and response["Cache-Control"] == "private, no-store"
    body = response.json()
    assert (body["id"], body["name"], body["mode"]) == (str(key.pk), key.name, "live")
    assert body["key"] != old_raw and body["prefix"] == body["key"][:12]
    assert key_client(old_raw).get("/api/v1/me").json()["code"] == "invalid_api_key"
    assert key_client(body["key"]).get("/api/v1/me").json()["api_key"]["id"] == str(key.pk)
    assert ApiKey.objects.count() == 1


def test_regenerating_a_revoked_key_is_409(alice, alice_key):
    key, _ = alice_key
    client = session_client(alice)
    client.delete(f"/api/v1/api-keys/{key.pk}")
    response = client.post(f"/api/v1/api-keys/{key.pk}/regenerate")
    assert response.status_code == 409
    assert problem(response)["code"] == "target_key_revoked"


def test_rename_and_change_expiry(alice, alice_key):
    key, _ = alice_key
    client = session_client(alice)
    response = client.patch(f"/api/v1/api-keys/{key.pk}", {"name": " Data Pipeline "}, format="json")
    assert response.status_code == 200 and response.json()["name"] == "Data Pipeline"
    response = client.patch(f"/api/v1/api-keys/{key.pk}", {"expires_at": "2099-01-01T00:00:00Z"}, format="json")
    assert response.json()["expires_at"] == "2099-01-01T00:00:00Z"
    response = client.patch(f"/api/v1/api-keys/{key.pk}", {"expires_at": None}, format="json")
    assert response.json()["expires_at"] is None
    response = client.patch(f"/api/v1/api-keys/{key.pk}", {"name": ""}, format="json")
    assert response.status_code == 400
    assert ApiKey.objects.get(pk=key.pk).name == "Data Pipeline"


def test_decrypt_explains_that_keys_are_hashed_and_points_to_regenerate(alice, alice_key):
    key, _ = alice_key
    response = session_client(alice).get(f"/api/v1/api-keys/{key.pk}/decrypt")
    assert response.status_code == 410
    error = problem(response)
    assert error["code"] == "key_not_recoverable"
    assert "hash" in error["detail"] and f"/api/v1/api-keys/{key.pk}/regenerate" in error["detail"]


def test_list_is_paginated_newest_first(alice):
    now = timezone.now()
    for n in range(5):
        key, _ = make_key(alice, name=f"k{n}")
        ApiKey.objects.filter(pk=key.pk).update(created_at=now - timedelta(minutes=n))
    client = session_client(alice)
    page = client.get("/api/v1/api-keys?page_size=2&page=2").json()
    assert [i["name"] for i in page["items"]] == ["k2", "k3"]
    assert (page["total"], page["page"], page["page_size"], page["total_pages"]) == (5, 2, 2, 3)
    assert client.get("/api/v1/api-keys?page=9").json()["items"] == []
    assert client.get("/api/v1/api-keys?page_size=5000").json()["page_size"] == 200
    bad = client.get("/api/v1/api-keys?page=0")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_pagination"


def test_list_filters(alice, admin, alice_key):
    key, _ = alice_key
    make_key(alice, name="testing", mode="test")
    session_client(alice).delete(f"/api/v1/api-keys/{key.pk}")
    client = session_client(admin)
    names = lambda q: {i["name"] for i in client.get(f"/api/v1/api-keys?{q}").json()["items"]}  # noqa: E731
    assert names(f"user={alice.pk}") == {"Alice's laptop", "testing"}
    assert names(f"user={alice.pk}&status=revoked") == {"Alice's laptop"}
    assert names("scope=company&mode=test") == {"testing"}
    assert client.get("/api/v1/api-keys?status=gone").status_code == 400


def test_person_in_two_companies_picks_one_with_x_organization_id(alice, alice_key):
    second = CompanyFactory(name="Initech")
    Membership.objects.create(user=alice, company=second, role=Role.ADMIN)
    client = session_client(alice)
    ambiguous = client.get("/api/v1/me")
    assert ambiguous.status_code == 400
    assert ambiguous.json()["code"] == "organization_required"
    assert {c["name"] for c in ambiguous.json()["companies"]} == {"Acme", "Initech"}
    me = client.get("/api/v1/me", HTTP_X_ORGANIZATION_ID=str(second.pk)).json()
    assert (me["company"]["name"], me["role"]) == ("Initech", "admin")
    assert client.get("/api/v1/me", HTTP_X_ORGANIZATION_ID="999999").status_code == 404
    assert client.get("/api/v1/me", HTTP_X_ORGANIZATION_ID="acme").status_code == 400
    # A key acts in its own company whatever the header says, and says so when they differ.
    key_response = key_client(alice_key[1]).get("/api/v1/me", HTTP_X_ORGANIZATION_ID=str(second.pk))
    assert key_response.status_code == 403
    assert key_response.json()["code"] == "organization_mismatch"


def test_unknown_key_id_is_404_in_the_error_shape(alice):
    response = session_client(alice).get("/api/v1/api-keys/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert response.json()["code"] == "api_key_not_found"


def test_trailing_slash_is_not_redirected_and_says_how_to_fix_it(alice):
    response = session_client(alice).post("/api/v1/api-keys/", {"name": "x"}, format="json")
    assert response.status_code == 404
    assert "/api/v1/api-keys" in response.json()["detail"]
    assert ApiKey.objects.count() == 0


def test_method_not_allowed_uses_the_error_shape(alice):
    response = session_client(alice).put("/api/v1/me", {}, format="json")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_session_writes_need_the_csrf_token(alice):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post("/api/v1/api-keys", {"name": "x"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert ApiKey.objects.count() == 0
