"""Upgrading a database whose hashes are bare hex (before they named their scheme): every key,
issued here or imported, still verifies afterwards, and an imported one is recognised if its
file is imported again."""
import hashlib
import hmac
from io import StringIO

import pytest
from django.core.management import call_command

from core import crypto
from keys.models import ApiKey
from tests.clients import key_client
from tests.migrations import migrate, migrate_to_latest

BEFORE = [("keys", "0006_grace_and_legacy")]
LEGACY_RAW = "oldsys-migrated-0123456789"


@pytest.mark.django_db(transaction=True)
def test_bare_hashes_are_named_and_still_verify(alice, tmp_path):
    raw = crypto.generate_key("live")
    sha = hashlib.sha256(LEGACY_RAW.encode()).hexdigest()
    old = migrate(BEFORE).get_model("keys", "ApiKey")
    membership = alice.memberships.get()
    common = {"company_id": membership.company_id, "owner_id": alice.pk, "created_by_id": alice.pk}
    bare = hmac.new(b"test-pepper", raw.encode(), hashlib.sha256).hexdigest()
    issued = old.objects.create(name="Issued", prefix=raw[:12], key_hash=bare, **common)
    imported = old.objects.create(name="Imported", prefix="legacy", key_hash=sha, is_legacy=True, **common)
    migrate_to_latest()
    assert ApiKey.objects.get(pk=issued.pk).key_hash == crypto.hash_key(raw)
    assert ApiKey.objects.get(pk=imported.pk).key_hash == "sha256$" + sha
    assert key_client(raw).get("/api/v1/me").status_code == 200
    assert key_client(LEGACY_RAW).get("/api/v1/me").status_code == 200
    csv = tmp_path / "legacy.csv"
    csv.write_text(f"user,company,name,sha256_of_key,created_at,expires_at\nalice,Acme,Renamed,{sha},"
                   "2024-01-01T00:00:00Z,\n")
    out = StringIO()
    call_command("import_legacy_keys", str(csv), stdout=out)
    assert out.getvalue().startswith("0 created, 1 skipped")
