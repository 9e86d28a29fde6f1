import re
import subprocess
import sys

import pytest
from django.core.signals import got_request_exception
from django.test import Client
from django.views.debug import ExceptionReporter

pytestmark = pytest.mark.django_db


def api_routes() -> set[str]:
    """Every /api/v1/ route of the URLconf, written the way OpenAPI writes paths."""
    from django.urls import get_resolver
    from django.urls.resolvers import URLResolver

    def walk(patterns, prefix=""):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            else:
                yield route

    return {"/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route) for route in walk(get_resolver().url_patterns)
            if route.startswith("api/v1/")}


def test_schema_documents_every_api_route_and_the_error_shape(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    routes = api_routes()
    assert {"/api/v1/me", "/api/v1/api-keys", "/api/v1/users/{user_id}/api-keys/{key_id}/revoke"} <= routes
    assert set(schema["paths"]) == routes
    revoke = schema["paths"]["/api/v1/users/{user_id}/api-keys/{key_id}/revoke"]["post"]
    assert {"204", "400", "401", "403", "404", "429", "503"} <= set(revoke["responses"])
    assert revoke["responses"]["404"]["content"] == {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem404"}}}
    decrypt = schema["paths"]["/api/v1/api-keys/{key_id}/decrypt"]["get"]
    assert "410" in decrypt["responses"] and decrypt["deprecated"] is True
    assert {"ApiKeyHeader", "XApiKeyHeader", "BearerKey"} <= set(schema["components"]["securitySchemes"])


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_docs_pages_use_only_local_assets(client, url):
    response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/" in html
    assert "cdn" not in html.lower() and "https://" not in html


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "//api/v1/me", "/api"])
def test_unknown_api_route_is_json_404(client, path):
    # //api/v1/me: a client's base URL with a trailing slash; the route is not found, as the problem.
    # (Set as PATH_INFO, as a server hands it over: the test client would read //api as a host.)
    response = client.get("/", PATH_INFO=path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"


def test_error_reports_of_a_crash_during_authentication_carry_no_key(settings, alice_key, monkeypatch, mailoutbox):
    """A 500 produces error reports: the admins' mail and the full HTML report with every
    frame's variables (what Sentry-style reporters send). The key must be in neither."""
    settings.DEBUG = False
    settings.ADMINS = [("Ops", "ops@example.com")]
    reports = []

    def crash(*args, **kwargs):
        raise RuntimeError("database went away")

    def report(sender, request, **kwargs):
        reports.append(ExceptionReporter(request, *sys.exc_info()).get_traceback_html())

    monkeypatch.setattr("keys.authentication.verify", crash)
    got_request_exception.connect(report)
    try:
        response = Client(raise_request_exception=False).get(
            "/api/v1/me", HTTP_API_KEY=alice_key[1], HTTP_AUTHORIZATION=f"Bearer {alice_key[1]}"
        )
    finally:
        got_request_exception.disconnect(report)
    assert response.status_code == 500
    assert response.json()["code"] == "server_error"
    assert len(mailoutbox) == 1 and len(reports) == 1
    everything = mailoutbox[0].body + reports[0]
    assert "database went away" in everything and "verify_request" in reports[0]
    assert alice_key[1][8:40] not in everything


@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "API_KEY_PEPPER", "ALLOWED_HOSTS"])
def test_production_settings_refuse_to_start_without_secrets(missing):
    env = {"DJANGO_SECRET_KEY": "s" * 50, "API_KEY_PEPPER": "p" * 32, "ALLOWED_HOSTS": "keys.example.com",
           "DJANGO_SETTINGS_MODULE": "config.settings.production", "PATH": "/usr/bin:/bin"}
    env[missing] = ""
    result = subprocess.run([sys.executable, "-c", "import django; django.setup()"], env=env,
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert f"{missing} must be set" in result.stderr


def test_production_settings_start_with_secrets():
    env = {"DJANGO_SECRET_KEY": "s" * 50, "API_KEY_PEPPER": "p" * 32, "ALLOWED_HOSTS": "keys.example.com",
           "DJANGO_SETTINGS_MODULE": "config.settings.production", "PATH": "/usr/bin:/bin",
           "DATABASE_URL": "sqlite://:memory:"}
    result = subprocess.run([sys.executable, "-c", "import django; django.setup(); from django.conf import settings;"
                             "print(settings.DEBUG, settings.PASSWORD_HASHERS[0])"], env=env,
                            capture_output=True, text=True)
    assert result.stdout.split() == ["False", "django.contrib.auth.hashers.Argon2PasswordHasher"], result.stderr


def test_the_schema_carries_the_package_version(client):
    import tomllib

    from tests.live import ROOT

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert client.get("/api/schema/?format=json").json()["info"]["version"] == version
