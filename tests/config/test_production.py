"""Production settings: safe when a variable is forgotten, and right behind a TLS proxy."""
import subprocess
import sys

import pytest

from tests.factories import PASSWORD
from tests.live import ROOT

SECRETS = {
    "DJANGO_SECRET_KEY": "kH3v9-pQ2xW7mZ4rT8nB1yC6fD0gJ5sL-aE2uV9iO3wX7qR4tY8pZ1cM6bN0",
    "API_KEY_PEPPER": "p" * 32,
    "ALLOWED_HOSTS": "keys.example.com",
    "PATH": "/usr/bin:/bin",
    "DATABASE_URL": "sqlite://:memory:",
}


def python(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**SECRETS, **env}, capture_output=True,
                          text=True, timeout=60)


def test_check_deploy_is_clean_with_the_production_defaults():
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=ROOT,
                            env={**SECRETS, "DJANGO_SETTINGS_MODULE": "config.settings.production"},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("module", ["config.wsgi", "config.asgi"])
def test_the_servers_entry_points_default_to_production(module):
    """A forgotten DJANGO_SETTINGS_MODULE must not mean DEBUG and a development pepper."""
    loaded = python(f"import {module}; from django.conf import settings; "
                    "print(settings.SETTINGS_MODULE, settings.DEBUG, settings.SECURE_SSL_REDIRECT, "
                    "settings.LOGGING['handlers']['console']['formatter'])")
    assert loaded.stdout.split() == ["config.settings.production", "False", "True", "json"], loaded.stderr
    refused = python(f"import {module}", DJANGO_SECRET_KEY="")
    assert refused.returncode != 0 and "DJANGO_SECRET_KEY must be set" in refused.stderr


def test_the_proxy_settings_come_from_the_environment():
    result = python("import django; django.setup(); from django.conf import settings as s; "
                    "print(s.SECURE_PROXY_SSL_HEADER, s.CSRF_TRUSTED_ORIGINS, s.SECURE_HSTS_SECONDS, "
                    "s.SECURE_SSL_REDIRECT, sep='|')",
                    DJANGO_SETTINGS_MODULE="config.settings.production", SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
                    CSRF_TRUSTED_ORIGINS="https://keys.example.com,https://admin.example.com",
                    SECURE_SSL_REDIRECT="false")
    assert result.stdout.strip().split("|") == [
        "('HTTP_X_FORWARDED_PROTO', 'https')", "['https://keys.example.com', 'https://admin.example.com']",
        "31536000", "False"], result.stderr


@pytest.mark.django_db
def test_behind_a_tls_proxy_a_sign_in_form_post_passes_the_origin_check(client, alice, settings):
    """What broke behind a proxy on another host: every form post was 403 'Origin checking failed'."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.ALLOWED_HOSTS = ["keys.example.com"]
    proxied = {"HTTP_HOST": "keys.example.com", "HTTP_X_FORWARDED_PROTO": "https"}
    assert client.get("/accounts/login/", HTTP_HOST="keys.example.com").status_code == 301  # plain http
    client.handler.enforce_csrf_checks = True
    page = client.get("/accounts/login/", **proxied)
    assert page.status_code == 200 and page["Strict-Transport-Security"].startswith("max-age=")
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD,
                                                "csrfmiddlewaretoken": page.cookies["csrftoken"].value},
                           HTTP_ORIGIN="https://keys.example.com", **proxied)
    assert response.status_code == 302, response.content[:300]
