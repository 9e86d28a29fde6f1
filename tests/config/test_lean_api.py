"""Keyed API calls skip the browser's middleware (session, user, messages); everything a
signed-in browser relies on keeps working, and every response keeps its security headers."""
import pytest
from django.conf import settings
from django.test import Client, override_settings
from rest_framework.test import APIClient

from keys.models import ApiKey
from tests.clients import key_client, session_client

pytestmark = pytest.mark.django_db
CSP = "Content-Security-Policy"


def test_a_keyed_call_carries_the_same_security_headers_as_a_page_and_sets_no_cookie(alice_key):
    page = Client().get("/accounts/login/")
    response = key_client(alice_key[1]).get("/api/v1/me")
    assert response.status_code == 200
    assert response[CSP] == page[CSP] and "frame-ancestors 'none'" in response[CSP]
    assert response["X-Frame-Options"] == "DENY" and response["X-Content-Type-Options"] == "nosniff"
    assert not response.cookies
    assert "Cookie" not in response.get("Vary", "")


def test_the_policy_follows_the_settings(alice_key):
    key_client(alice_key[1]).get("/api/v1/me")  # the policy built once, then the settings change
    policy = {"DIRECTIVES": {"default-src": ["'none'"], "frame-ancestors": ["'none'"]}}
    with override_settings(CONTENT_SECURITY_POLICY=policy):
        directives = key_client(alice_key[1]).get("/api/v1/me")[CSP].split("; ")
        assert sorted(directives) == ["default-src 'none'", "frame-ancestors 'none'"]
    assert "default-src 'self'" in key_client(alice_key[1]).get("/api/v1/me")[CSP]


def test_a_signed_in_browser_reads_the_api_and_its_writes_still_need_the_csrf_token(alice):
    assert session_client(alice).get("/api/v1/me").json()["user"]["username"] == "alice"
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)
    refused = client.post("/api/v1/api-keys", {"name": "x"}, format="json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    client.get("/settings/keys/")  # a page with a form hands the browser its token
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    created = client.post("/api/v1/api-keys", {"name": "x"}, format="json", HTTP_X_CSRFTOKEN=token)
    assert created.status_code == 201
    assert ApiKey.objects.filter(name="x").count() == 1


def test_a_keyed_call_with_a_stale_session_cookie_is_still_the_key_s(alice_key):
    client = key_client(alice_key[1])
    client.cookies[settings.SESSION_COOKIE_NAME] = "no-such-session"
    response = client.get("/api/v1/me")
    assert response.status_code == 200 and response.json()["user"]["username"] == "alice"


def test_under_asgi_with_sentry_on_a_keyed_call_and_a_page_are_answered(alice_key, alice):
    """Sentry's Django integration calls each middleware's `__acall__` itself under ASGI: the
    middleware that step aside for keyed calls must do so there too, or every keyed call is a
    500 (the message middleware finds no session)."""
    import sentry_sdk
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    from core.sentry import sentry_init
    from tests.config.test_error_reports import Captured

    sentry_init("https://public@sentry.example.com/1", environment="test", release="1.1.0", transport=Captured)
    try:
        keyed = async_to_sync(AsyncClient().get)("/api/v1/me", headers={"API-Key": alice_key[1]})
        browser = AsyncClient()
        browser.force_login(alice)
        page = async_to_sync(browser.get)("/settings/advanced/api-keys/")
    finally:
        sentry_sdk.init(dsn=None)
    assert keyed.status_code == 200 and keyed.json()["api_key"]["id"] == str(alice_key[0].pk)
    assert not keyed.cookies
    assert page.status_code == 200 and "Generate New API-key" in page.content.decode()
