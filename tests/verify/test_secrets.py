"""Part 7: no raw key is ever written anywhere but the one response that created it.

This module runs last (pytest runs tests/verify's modules in name order). By then every
response body and rendered page of the run, every log line, every row of the real servers'
databases and their gunicorn logs were recorded (conftest.EVIDENCE), and every key generated
in this process or issued to a server is known; each is looked for whole and by its random
middle. Error reports are rendered with DEBUG off for a forced exception while a key is in
every header it can be in.
"""
import logging
import re

import pytest
from django.apps import apps
from django.contrib.sessions.models import Session
from django.core import mail
from django.db import connection

from accounts.models import Role
from core.crypto import KEY_PATTERN
from tests.clients import key_client, session_client
from tests.factories import CompanyFactory, make_key, member

pytestmark = pytest.mark.verify
PART = "7 secrets"
RUN = re.compile(r"[0-9A-Za-z]{32,}")


def database_text() -> str:
    rows = [str(row) for model in apps.get_models() for row in model.objects.values_list()]
    rows.extend(str(session.get_decoded()) for session in Session.objects.all())
    return "\n".join(rows)


@pytest.mark.django_db
def test_a_lifecycle_on_every_surface_with_sql_logged(evidence, figures):
    """Create, use, regenerate and revoke through the API and the dashboard with every SQL
    statement logged, then keep every row of the database for the final scan."""
    acme = CompanyFactory(name="Acme")
    alice, admin = member(acme, Role.MEMBER, username="alice"), member(acme, Role.ADMIN, username="adam")
    connection.force_debug_cursor = True
    logging.getLogger("django.db.backends").setLevel(logging.DEBUG)
    try:
        session = session_client(alice)
        created = session.post(f"/api/v1/users/{alice.pk}/api-keys", {"name": "Lifecycle"}, format="json").json()
        raw = created["key"]
        assert key_client(raw).get("/api/v1/me").status_code == 200
        assert key_client(raw).get(f"/api/v1/me?api_key={raw}").status_code == 400
        again = key_client(raw, "Authorization").post(f"/api/v1/api-keys/{created['id']}/regenerate",
                                                      {"grace_period_seconds": 60}, format="json").json()["key"]
        assert key_client(raw).get("/api/v1/me").status_code == 200  # the grace period
        page = session.post("/settings/advanced/api-keys/new/", {"name": "From the page", "mode": "live"})
        assert page.status_code in (200, 302, 400)
        assert session_client(admin).get("/admin/keys/apikey/").status_code == 200
        assert session_client(admin).delete(f"/api/v1/api-keys/{created['id']}").status_code == 204
        assert key_client(again, "X-API-Key").get("/api/v1/me").status_code == 401
        figures.sent(PART, 9)
    finally:
        connection.force_debug_cursor = False
        logging.getLogger("django.db.backends").setLevel(logging.NOTSET)
    assert created["prefix"] in database_text()
    evidence.text("in-process database after the lifecycle", database_text())


@pytest.mark.django_db
@pytest.mark.parametrize("where", ["in the view", "while verifying the key"])
def test_error_reports_carry_no_key(where, settings, monkeypatch, figures):
    settings.DEBUG = False
    settings.ADMINS = [("Ops", "ops@example.com")]
    acme = CompanyFactory(name="Acme")
    _, raw = make_key(member(acme, Role.OWNER, username="olivia"))
    target = "keys.selectors.api_keys_of_company" if where == "in the view" else "keys.verification.api_key_by_hashes"

    def explode(*args, **kwargs):
        raise RuntimeError("forced failure for the error report")

    monkeypatch.setattr(target, explode)
    # Django's default logging mails ADMINS the full report (frames, locals, headers) when DEBUG is off.
    client = key_client(raw)
    client.raise_request_exception = False
    response = client.get("/api/v1/api-keys", HTTP_AUTHORIZATION=f"Bearer {raw}", HTTP_X_API_KEY=raw,
                          HTTP_COOKIE=f"note={raw}", HTTP_REFERER=f"https://app.example.com/debug?key={raw}")
    figures.sent(PART)
    assert response.status_code == 500 and response.json()["code"] == "server_error"
    assert mail.outbox, "no error report was sent"
    for report in mail.outbox:
        texts = [report.subject, report.body, *(content for content, _ in report.alternatives)]
        assert "forced failure for the error report" in report.body  # the report is real and complete
        for text in texts:
            assert raw not in text and raw[8:40] not in text


def test_no_key_anywhere_but_the_response_that_created_it(evidence, figures):
    secrets = evidence.secrets
    middles = {raw[8:40]: raw for raw in secrets}
    seen_in = {raw: [] for raw in secrets}

    def found(text: str) -> set[str]:
        hits = {token for token in KEY_PATTERN.findall(text) if token in secrets}
        for run in RUN.findall(text):
            hits.update(middles[run[i:i + 32]] for i in range(len(run) - 31) if run[i:i + 32] in middles)
        return hits

    for where, text, created in evidence.responses:
        for raw in found(text):
            seen_in[raw].append((where, raw == created))
    leaks = []
    for where, text in evidence.texts:
        leaks.extend((where, raw[:12]) for raw in found(text))
    for raw, places in seen_in.items():
        if len(places) > 1 or (places and not places[0][1]):
            leaks.append((raw[:12], places[:5]))
    figures.fact(PART, "keys traced", len(secrets))
    figures.fact(PART, "texts scanned", len(evidence.responses) + len(evidence.texts))
    figures.fact(PART, "MB scanned", round(sum(len(t) for _, t, _ in evidence.responses)
                                          + sum(len(t) for _, t in evidence.texts)) / 1e6)
    assert len(secrets) >= 3 and evidence.texts, "nothing was recorded: the scan would prove nothing"
    assert not leaks, leaks[:20]
