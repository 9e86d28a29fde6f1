"""Regenerating with a grace period, and keys imported from the system we replace."""
import hashlib
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from audit.models import AuditEvent
from keys.models import ApiKey
from tests.clients import key_client, session_client

pytestmark = pytest.mark.django_db


def status(raw):
    return key_client(raw).get("/api/v1/me").status_code


def test_both_values_work_during_the_grace_period_and_only_the_new_one_after(alice, alice_key, time_machine):
    key, old = alice_key
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    body = session_client(alice).post(f"/api/v1/api-keys/{key.pk}/regenerate", {"grace_period_seconds": 3600},
                                      format="json").json()
    new = body["key"]
    assert body["previous_prefix"] == old[:12] and body["previous_expires_at"] is not None
    assert (status(old), status(new)) == (200, 200)
    time_machine.move_to(start + timedelta(seconds=3600) - timedelta(microseconds=1), tick=False)
    assert status(old) == 200
    time_machine.move_to(start + timedelta(seconds=3600), tick=False)
    refused = key_client(old).get("/api/v1/me")
    assert refused.status_code == 401 and refused.json()["code"] == "expired_api_key"
    assert "old value of a regenerated key" in refused.json()["detail"]
    assert status(new) == 200
    assert AuditEvent.objects.get(action="key.regenerated").changes["old_value_works_until"]


def test_without_grace_the_old_value_dies_at_once(alice, alice_key):
    key, old = alice_key
    assert status(old) == 200  # cached now
    new = session_client(alice).post(f"/api/v1/api-keys/{key.pk}/regenerate").json()["key"]
    assert (status(old), status(new)) == (401, 200)


def test_a_second_regenerate_ends_the_first_grace_at_once(alice, alice_key):
    key, first = alice_key
    client = session_client(alice)
    second = client.post(f"/api/v1/api-keys/{key.pk}/regenerate", {"grace_period_seconds": 600}, format="json").json()
    third = client.post(f"/api/v1/api-keys/{key.pk}/regenerate", {"grace_period_seconds": 600}, format="json").json()
    assert (status(first), status(second["key"]), status(third["key"])) == (401, 200, 200)


def test_revoking_during_grace_kills_both_values(alice, alice_key):
    key, old = alice_key
    client = session_client(alice)
    new = client.post(f"/api/v1/api-keys/{key.pk}/regenerate", {"grace_period_seconds": 600}, format="json").json()
    assert status(old) == 200
    client.delete(f"/api/v1/api-keys/{key.pk}")
    assert (status(old), status(new["key"])) == (401, 401)


@pytest.mark.parametrize("grace", [-1, 7 * 24 * 3600 + 1, "soon"])
def test_grace_out_of_range_is_400(grace, alice, alice_key):
    key, old = alice_key
    response = session_client(alice).post(f"/api/v1/api-keys/{key.pk}/regenerate", {"grace_period_seconds": grace},
                                          format="json")
    assert response.status_code == 400
    assert ApiKey.objects.get(pk=key.pk).key_hash == key.key_hash and status(old) == 200


LEGACY_RAW = "oldsys-4f9a8b7c6d5e4f3a2b1c"


@pytest.fixture
def legacy_csv(tmp_path, alice, other_company):
    digest = hashlib.sha256(LEGACY_RAW.encode()).hexdigest()
    path = tmp_path / "legacy.csv"
    path.write_text(
        "user,company,name,sha256_of_key,created_at,expires_at\n"
        f"alice,Acme,Old integration,{digest},2024-03-01T10:00:00Z,\n"
        f"alice,Acme,Broken,not-a-hash,2024-03-01T10:00:00Z,\n"
        f"nobody,Acme,Ghost,{'a' * 64},2024-03-01T10:00:00Z,\n"
        f"alice,Globex,Wrong company,{'b' * 64},2024-03-01T10:00:00Z,\n"
        f"alice,Acme,No date,{'c' * 64},,\n"
    )
    return path


def run_import(path):
    out = StringIO()
    call_command("import_legacy_keys", str(path), stdout=out)
    return out.getvalue()


def test_legacy_import_reports_and_is_idempotent(legacy_csv):
    first = run_import(legacy_csv)
    assert first.startswith("1 created, 0 skipped (imported before), 4 rejected.")
    assert "line 3: sha256_of_key must be 64 hexadecimal characters" in first
    assert "line 4: no user 'nobody'" in first and "line 5: alice is not a member of Globex." in first
    assert "line 6: created_at is required" in first
    assert run_import(legacy_csv).startswith("0 created, 1 skipped")
    key = ApiKey.objects.get(is_legacy=True)
    assert (key.name, key.created_at.year, key.prefix) == ("Old integration", 2024, "legacy")


def test_a_legacy_key_authenticates_with_deprecation_headers_until_regenerated(legacy_csv, alice):
    run_import(legacy_csv)
    response = key_client(LEGACY_RAW, "X-API-Key").get("/api/v1/me")
    assert response.status_code == 200
    assert response["Deprecation"] == "true"
    assert 'rel="successor-version"' in response["Link"] and response["Warning"].startswith("299")
    key = ApiKey.objects.get(is_legacy=True)
    new = key_client(LEGACY_RAW).post(f"/api/v1/api-keys/{key.pk}/regenerate").json()["key"]
    fresh = key_client(new).get("/api/v1/me")
    assert fresh.status_code == 200 and not fresh.has_header("Deprecation")
    assert key_client(LEGACY_RAW).get("/api/v1/me").status_code == 401


def test_legacy_status_and_notice(legacy_csv, alice, bob):
    run_import(legacy_csv)
    client = session_client(alice)
    assert client.get("/api/v1/api-keys/legacy-status").json() == {
        "has_legacy_keys": True, "legacy_key_count": 1, "notice_shown": False}
    assert client.post("/api/v1/api-keys/legacy-notice-shown").json() == {"status": "ok"}
    assert client.get("/api/v1/api-keys/legacy-status").json()["notice_shown"] is True
    assert session_client(bob).get("/api/v1/api-keys/legacy-status").json()["has_legacy_keys"] is False


def test_malformed_keys_are_still_refused_when_legacy_keys_exist(legacy_csv):
    run_import(legacy_csv)
    response = key_client("oldsys-not-the-right-one").get("/api/v1/me")
    assert response.status_code == 401 and response.json()["code"] == "invalid_api_key"


def test_the_old_value_of_a_regenerated_legacy_key_works_during_its_grace(legacy_csv, alice):
    from keys.selectors import legacy_state_forget

    run_import(legacy_csv)
    key = ApiKey.objects.get(is_legacy=True)
    new = key_client(LEGACY_RAW).post(f"/api/v1/api-keys/{key.pk}/regenerate", {"grace_period_seconds": 600},
                                      format="json").json()["key"]
    legacy_state_forget()  # as when the once-a-minute state is read again
    assert (status(LEGACY_RAW), status(new)) == (200, 200)


def test_a_legacy_value_takes_the_whole_path_every_time(legacy_csv, monkeypatch):
    """A legacy value's copy is not served by hash alone: its format decides what it may do
    (keys.cache.local_copy), so each request reads it again, and it keeps working."""
    from core import crypto

    run_import(legacy_csv)
    parsed = []
    real_parse = crypto.parse_key
    monkeypatch.setattr(crypto, "parse_key", lambda value: parsed.append(1) or real_parse(value))
    assert [status(LEGACY_RAW) for _ in range(3)] == [200, 200, 200]
    assert len(parsed) == 3
    # Nor is it remembered by its SHA-256: that is the unpeppered hash the old system stored,
    # of a value that may be short enough to guess.
    from keys import cache as key_cache

    assert key_cache._recognised == {}
