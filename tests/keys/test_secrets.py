"""A raw key exists in exactly one response: after a whole key lifecycle, it is nowhere else."""
import logging

import pytest
from django.apps import apps
from django.contrib.sessions.models import Session
from django.db import connection

from tests.clients import key_client, session_client

pytestmark = pytest.mark.django_db


def database_text() -> str:
    rows = []
    for model in apps.get_models():
        rows.extend(str(row) for row in model.objects.values_list())
    rows.extend(str(session.get_decoded()) for session in Session.objects.all())
    return "\n".join(rows)


@pytest.fixture
def sql_logged():
    """Send every SQL statement to the log, as DEBUG=True would."""
    connection.force_debug_cursor = True
    yield
    connection.force_debug_cursor = False


def test_no_raw_key_in_any_table_or_log_line_after_a_full_lifecycle(alice, admin, caplog, sql_logged):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    client = session_client(alice)
    created = client.post(f"/api/v1/users/{alice.pk}/api-keys", {"name": "Lifecycle"}, format="json").json()
    first = created["key"]
    key_id = created["id"]
    seen = [first]

    assert key_client(first).get("/api/v1/me").status_code == 200
    assert key_client(first, "X-API-Key").get(f"/api/v1/me?api_key={first}").status_code == 400
    assert first not in str(client.get(f"/api/v1/users/{alice.pk}/api-keys").json())
    second = key_client(first).post(f"/api/v1/api-keys/{key_id}/regenerate").json()["key"]
    seen.append(second)
    assert key_client(first).get("/api/v1/me").status_code == 401
    assert key_client(second, "Authorization").get("/api/v1/me").status_code == 200
    third = session_client(admin).post(f"/api/v1/api-keys/{key_id}/regenerate").json()["key"]
    seen.append(third)
    assert session_client(admin).post(f"/api/v1/users/{alice.pk}/api-keys/{key_id}/revoke").status_code == 204
    assert key_client(third).get("/api/v1/me").status_code == 401

    assert "INSERT" in caplog.text and "Unauthorized: /api/v1/me" in caplog.text  # the log was captured
    stored = database_text()
    assert created["prefix"] in stored or third[:12] in stored  # the scan reads real rows
    for raw in seen:
        # The whole key and its random middle: neither may appear anywhere.
        for secret in (raw, raw[8:40]):
            assert secret not in stored
            assert secret not in caplog.text
