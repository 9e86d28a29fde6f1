"""Finding leaked keys (scan_for_keys) and the signed leak endpoint; the mail to owners and the
expiry notices, which the worker sends: tests/keys/test_tasks.py."""
import hashlib
import hmac
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from audit.models import AuditEvent
from keys.models import ApiKey
from keys.services import api_key_revoke
from tests.clients import key_client
from tests.factories import make_key

pytestmark = pytest.mark.django_db
SECRET = "scanner-shared-secret"


def run(*args):
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def leaky_folder(tmp_path, alice, bob):
    live, live_raw = make_key(alice, name="In the repo")
    dead, dead_raw = make_key(bob, name="Old one")
    api_key_revoke(api_key=dead, actor_user=bob)
    mistyped = live_raw[:-1] + ("A" if live_raw[-1] != "A" else "B")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "settings.py").write_text(f'API_KEY = "{live_raw}"\n# old: {dead_raw}\n')
    (tmp_path / "deploy.log").write_text("line one\n" * 3 + f"Authorization: Bearer {mistyped}\n{live_raw}\n")
    (tmp_path / "image.bin").write_bytes(b"\x00\xff" * 100 + live_raw.encode() + b"\x00")
    return {"path": tmp_path, "live": live, "live_raw": live_raw, "dead": dead, "dead_raw": dead_raw}


def test_scan_reports_real_keys_without_printing_them(leaky_folder):
    out, _ = run("scan_for_keys", str(leaky_folder["path"]))
    live, dead = leaky_folder["live"], leaky_folder["dead"]
    assert f"id {live.pk} owner alice (Acme): active at" in out
    assert "settings.py:1" in out and "deploy.log:5" in out and "image.bin:1" in out
    assert f"id {dead.pk} owner bob (Acme): revoked at" in out and "settings.py:2" in out
    assert "2 distinct keys with valid checksums (2 issued here), 1 look-alikes with bad checksums ignored" in out
    assert leaky_folder["live_raw"] not in out and leaky_folder["dead_raw"] not in out
    assert ApiKey.objects.get(pk=live.pk).revoked_at is None  # reporting alone changes nothing


def test_scan_with_revoke_revokes_the_active_ones(leaky_folder):
    out, _ = run("scan_for_keys", str(leaky_folder["path"]), "--revoke")
    assert "active → revoked now" in out and ", 1 revoked." in out
    assert key_client(leaky_folder["live_raw"]).get("/api/v1/me").status_code == 401
    assert AuditEvent.objects.get(action="key.revoked", api_key=leaky_folder["live"]).surface == "command"


def post_leaks(body, secret=SECRET, raw=None):
    payload = raw if raw is not None else json.dumps(body).encode()
    signature = "sha256=" + hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
    return Client().post("/api/v1/leaks", payload, content_type="application/json",
                         HTTP_KEYHOUSE_SIGNATURE=signature)


@pytest.fixture
def scanner(settings):
    settings.LEAK_REPORT_SECRET = SECRET


def test_signed_report_revokes_active_keys_and_tells_the_owner(scanner, alice, alice_key, mailoutbox):
    key, raw = alice_key
    alice.email = "alice@example.com"
    alice.save()
    unknown = "sk_live_" + "x" * 38
    response = post_leaks(
        [
            {"token": raw, "type": "keyhouse_api_key", "url": "https://gist.example/1", "source": "gist"},
            {"token": unknown, "type": "keyhouse_api_key", "url": "https://gist.example/2"},
        ]
    )
    assert response.status_code == 200
    body = response.json()
    assert [r["label"] for r in body] == ["true_positive", "false_positive"]
    assert body[0]["token_hash"] == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in response.content.decode()
    assert key_client(raw).get("/api/v1/me").json()["code"] == "revoked_api_key"
    event = AuditEvent.objects.get(action="security.key_leaked")
    assert event.changes == {"url": "https://gist.example/1", "source": "gist", "value": "current",
                             "keys_created_with_it": []} and event.api_key_id == key.pk
    assert mailoutbox == []  # the worker mails the owner: tests/keys/test_tasks.py


def test_reporting_an_already_revoked_key_is_a_false_positive(scanner, alice, alice_key):
    key, raw = alice_key
    api_key_revoke(api_key=key, actor_user=alice)
    assert post_leaks([{"token": raw}]).json()[0]["label"] == "false_positive"


@pytest.mark.parametrize("tamper", ["wrong secret", "changed body", "no header"])
def test_bad_signatures_are_401_and_revoke_nothing(tamper, scanner, alice_key):
    key, raw = alice_key
    body = json.dumps([{"token": raw}]).encode()
    if tamper == "wrong secret":
        response = post_leaks(None, secret="guess", raw=body)
    elif tamper == "changed body":
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        response = Client().post("/api/v1/leaks", body.replace(b"]", b", {}]"), content_type="application/json",
                                 HTTP_KEYHOUSE_SIGNATURE=signature)
    else:
        response = Client().post("/api/v1/leaks", body, content_type="application/json")
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_signature"
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None


def test_leak_reports_are_refused_when_not_configured(alice_key):
    response = post_leaks([{"token": alice_key[1]}], secret="")
    assert response.status_code == 503 and response.json()["code"] == "leak_reports_disabled"


@pytest.mark.parametrize("body", [{"token": "x"}, [{"type": "x"}], [{"token": "x", "extra": 1}], "[1,2]"])
def test_malformed_reports_are_400(body, scanner):
    raw = body.encode() if isinstance(body, str) else None
    response = post_leaks(body, raw=raw)
    assert response.status_code == 400
