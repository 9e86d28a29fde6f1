"""Error reports by mail (ADMINS, EMAIL_URL) and to Sentry carry no key."""
import subprocess
import sys

import pytest
import sentry_sdk
from sentry_sdk.transport import Transport

from core.sentry import sentry_init
from tests.clients import key_client
from tests.live import ROOT


class Captured(Transport):
    """Sentry's transport, keeping each envelope instead of sending it."""

    envelopes: list = []

    def capture_envelope(self, envelope):
        self.envelopes.append(envelope)


def test_mail_and_admins_come_from_the_environment():
    code = ("import django; django.setup(); from django.conf import settings as s; "
            "print(s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_USE_TLS, s.EMAIL_HOST_USER, s.ADMINS, sep='|')")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings.local",
                                 "EMAIL_URL": "smtp+tls://mailer:s3cret@smtp.example.com:587",
                                 "ADMINS": "Ops <ops@example.com>,security@example.com"})
    assert result.stdout.strip().split("|") == [
        "django.core.mail.backends.smtp.EmailBackend", "smtp.example.com", "587", "True", "mailer",
        "[('Ops', 'ops@example.com'), ('', 'security@example.com')]"], result.stderr


@pytest.mark.django_db
def test_a_crash_reported_to_sentry_carries_no_key(alice_key, monkeypatch, settings):
    from keys import authentication

    settings.DEBUG_PROPAGATE_EXCEPTIONS = False
    Captured.envelopes = []
    sentry_init("https://public@sentry.example.com/1", environment="test", release="1.1.0", transport=Captured)
    raw = alice_key[1]

    def crash(request):
        raise RuntimeError(f"database went away while checking {request.headers.get('API-Key')}")

    monkeypatch.setattr(authentication, "_verify_presented", crash)
    try:
        client = key_client(raw)
        client.raise_request_exception = False
        response = client.get(f"/api/v1/me?note={raw}", HTTP_REFERER=f"https://app.example.com/?k={raw}")
        sentry_sdk.flush()
    finally:
        sentry_sdk.init(dsn=None)
    assert response.status_code == 500
    sent = b"".join(envelope.serialize() for envelope in Captured.envelopes).decode("utf-8", "replace")
    assert "database went away" in sent and "RuntimeError" in sent
    assert raw not in sent and raw[8:40] not in sent

