from datetime import timedelta

import pytest
from django.http import JsonResponse
from django.test import RequestFactory
from django.utils import timezone
from rest_framework.test import APIClient

from keys.authentication import api_key_required
from keys.models import ApiKey
from keys.services import api_key_revoke
from tests.clients import key_client, problem
from tests.factories import make_key
from tests.keys.test_crypto import MALFORMED

pytestmark = pytest.mark.django_db

HEADER_STYLES = ["API-Key", "X-API-Key", "Authorization"]


def _error(response):
    return problem(response)


@pytest.mark.parametrize("header", HEADER_STYLES)
def test_each_header_style_authenticates(header, alice_key):
    key, raw = alice_key
    response = key_client(raw, header).get("/api/v1/me")
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["username"] == "alice"
    assert body["authenticated_with"] == "api_key"
    assert body["api_key"] == {
        "id": str(key.pk), "name": key.name, "prefix": key.prefix, "mode": "live", "expires_at": None,
    }


@pytest.mark.parametrize("header", HEADER_STYLES)
def test_revoked_key_is_refused_in_each_header_style(header, alice, alice_key):
    key, raw = alice_key
    api_key_revoke(api_key=key, actor_user=alice)
    response = key_client(raw, header).get("/api/v1/me")
    assert response.status_code == 401
    assert _error(response)["code"] == "revoked_api_key"
    assert "revoked on" in _error(response)["detail"]
    assert "ApiKey" in response["WWW-Authenticate"]


def test_missing_key_is_401_with_www_authenticate(api):
    response = api.get("/api/v1/me")
    assert response.status_code == 401
    assert _error(response)["code"] == "missing_api_key"
    assert "API-Key" in _error(response)["detail"]
    assert response["WWW-Authenticate"].startswith("ApiKey")


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_keys_get_invalid_api_key(case, alice_key):
    _, raw = alice_key
    response = key_client(MALFORMED[case](raw)).get("/api/v1/me")
    assert response.status_code == 401
    assert _error(response)["code"] == "invalid_api_key"
    assert response.has_header("WWW-Authenticate")


def test_well_formed_but_unknown_key_is_invalid(alice):
    key, raw = make_key(alice)
    ApiKey.objects.filter(pk=key.pk).delete()
    response = key_client(raw).get("/api/v1/me")
    assert response.status_code == 401
    error = _error(response)
    assert {name: error[name] for name in ("code", "title", "detail", "reason")} == {
        "code": "invalid_api_key",
        "title": "Invalid API key",
        "detail": "This API key does not exist; check that you copied the whole key.",
        "reason": "unknown",
    }


def test_key_stops_working_at_expires_at_to_the_second(alice, time_machine):
    expires = timezone.now() + timedelta(hours=1)
    _, raw = make_key(alice, expires_at=expires)
    time_machine.move_to(expires - timedelta(microseconds=1), tick=False)
    assert key_client(raw).get("/api/v1/me").status_code == 200
    time_machine.move_to(expires, tick=False)
    response = key_client(raw).get("/api/v1/me")
    assert response.status_code == 401
    assert _error(response)["code"] == "expired_api_key"


@pytest.mark.parametrize("param, value", [("api_key", "{raw}"), ("apikey", "{raw}"), ("token_of_mine", "{raw}"),
                                          ("q", "x{raw}"), ("q", "a {raw} b")])
def test_key_in_query_string_is_refused(param, value, alice_key):
    _, raw = alice_key
    response = key_client(raw).get("/api/v1/me", {param: value.format(raw=raw)})
    assert response.status_code == 400
    assert _error(response)["code"] == "api_key_in_query"
    assert raw not in response.content.decode()


@pytest.mark.parametrize("query", ["{raw}", "{raw}=1", "x=1&{raw}"])
def test_a_key_as_a_query_parameter_s_name_is_refused_and_not_repeated(query, alice_key, bob):
    """`?sk_live_…` with or without a value: still a key in the URL, with a key in the headers
    or without one; the refusal names the parameter masked, never 32 of the key's characters."""
    _, raw = alice_key
    _, other_raw = make_key(bob)
    for client in (key_client(other_raw), APIClient()):
        response = client.get("/api/v1/me?" + query.format(raw=raw))
        assert response.status_code == 400
        error = _error(response)
        assert error["code"] == "api_key_in_query" and raw[12:24] not in response.content.decode()
        assert error["parameter"] == raw[:12] + "…"


def test_two_different_keys_in_two_headers_are_refused(alice):
    _, first = make_key(alice)
    _, second = make_key(alice)
    client = key_client(first)
    client.credentials(HTTP_API_KEY=first, HTTP_AUTHORIZATION=f"Bearer {second}")
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert _error(response)["code"] == "ambiguous_api_key"


def test_same_key_in_two_headers_is_fine(alice_key):
    _, raw = alice_key
    client = key_client(raw)
    client.credentials(HTTP_API_KEY=raw, HTTP_X_API_KEY=raw)
    assert client.get("/api/v1/me").status_code == 200


def test_key_of_deactivated_owner_is_refused(alice, alice_key):
    alice.is_active = False
    alice.save()
    response = key_client(alice_key[1]).get("/api/v1/me")
    assert response.status_code == 401
    assert _error(response)["code"] == "inactive_owner"


def test_last_used_at_is_written_at_most_once_a_minute(alice_key, time_machine):
    key, raw = alice_key
    start = timezone.now()
    client = key_client(raw)
    time_machine.move_to(start, tick=False)
    client.get("/api/v1/me")
    assert ApiKey.objects.get(pk=key.pk).last_used_at == start
    time_machine.move_to(start + timedelta(seconds=59), tick=False)
    client.get("/api/v1/me")
    assert ApiKey.objects.get(pk=key.pk).last_used_at == start
    time_machine.move_to(start + timedelta(seconds=61), tick=False)
    client.get("/api/v1/me")
    assert ApiKey.objects.get(pk=key.pk).last_used_at == start + timedelta(seconds=61)


@api_key_required
def plain_view(request):
    return JsonResponse({"user": request.user.username, "key": str(request.key_verification.grant.key_id)})


def test_plain_django_views_use_the_same_checks(alice, alice_key):
    key, raw = alice_key
    factory = RequestFactory()
    ok = plain_view(factory.get("/host/thing", HTTP_X_API_KEY=raw))
    assert ok.status_code == 200 and b"alice" in ok.content
    missing = plain_view(factory.get("/host/thing"))
    assert missing.status_code == 401 and b"missing_api_key" in missing.content
    api_key_revoke(api_key=key, actor_user=alice)
    revoked = plain_view(factory.get("/host/thing", HTTP_AUTHORIZATION=f"Bearer {raw}"))
    assert revoked.status_code == 401 and b"revoked_api_key" in revoked.content
    assert revoked["WWW-Authenticate"].startswith("ApiKey")
    leaked = plain_view(factory.get("/host/thing", {"api_key": raw}))
    assert leaked.status_code == 400 and b"api_key_in_query" in leaked.content


def test_a_value_verified_once_skips_its_format_check_but_not_a_revocation(alice, alice_key, monkeypatch):
    """The worker's copy is found by the value's hash alone (keys.verification's hot path): the
    second request reads neither the format nor the database, and a revocation still reaches it."""
    from core import crypto

    key, raw = alice_key
    parsed = []
    real_parse = crypto.parse_key
    monkeypatch.setattr(crypto, "parse_key", lambda value: parsed.append(1) or real_parse(value))
    client = key_client(raw)
    assert client.get("/api/v1/me").status_code == 200
    assert client.get("/api/v1/me").status_code == 200
    assert len(parsed) == 1
    api_key_revoke(api_key=key, actor_user=alice)
    response = client.get("/api/v1/me")
    assert response.status_code == 401 and _error(response)["code"] == "revoked_api_key"


def test_a_mistyped_value_is_refused_by_its_format_however_often_the_real_one_is_used(alice_key):
    _, raw = alice_key
    client = key_client(raw)
    assert client.get("/api/v1/me").status_code == 200
    mistyped = raw[:-1] + ("A" if raw[-1] != "A" else "B")
    response = key_client(mistyped).get("/api/v1/me")
    assert response.status_code == 401 and _error(response)["code"] == "invalid_api_key"
    assert _error(response)["reason"] == "malformed"
    assert client.get("/api/v1/me").status_code == 200
