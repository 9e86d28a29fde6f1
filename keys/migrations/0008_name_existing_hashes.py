"""Stored hashes name their scheme and pepper (keys.crypto): `hmac-sha256$<pepper id>$<hex>`
for keys issued here, `sha256$<hex>` for keys imported from the system we replace. Existing
hashes were made with the one pepper configured before this release, the first of
API_KEY_PEPPERS (or API_KEY_PEPPER): migrate before adding a new pepper. One UPDATE per
column and kind, however many keys."""
import hashlib
import hmac

from django.conf import settings
from django.db import migrations
from django.db.models import F, Q, Value
from django.db.models.functions import Concat, Length, Substr

LEGACY_PREFIX = "legacy"
HEX_LENGTH = 64


def _pepper_id() -> str:
    pepper = settings.API_KEY_PEPPERS[0]
    return hashlib.sha256(b"keyhouse-pepper-id:" + pepper.encode()).hexdigest()[:8]


def _name_schemes(apps, schema_editor):
    ApiKey = apps.get_model("keys", "ApiKey")
    bare = Q(key_hash__length=HEX_LENGTH)
    hmac_form = f"hmac-sha256${_pepper_id()}$"
    pepper = settings.API_KEY_PEPPERS[0].encode()
    for key in ApiKey.objects.filter(bare, is_legacy=True).only("pk", "key_hash"):  # few: one per imported key
        ref = hmac_form + hmac.new(pepper, key.key_hash.encode(), hashlib.sha256).hexdigest()
        ApiKey.objects.filter(pk=key.pk).update(legacy_import_ref=ref)
    ApiKey.objects.filter(bare, is_legacy=True).update(key_hash=Concat(Value("sha256$"), F("key_hash")))
    ApiKey.objects.filter(bare, is_legacy=False).update(key_hash=Concat(Value(hmac_form), F("key_hash")))
    previous = Q(previous_key_hash__length=HEX_LENGTH)
    ApiKey.objects.filter(previous, previous_prefix=LEGACY_PREFIX).update(
        previous_key_hash=Concat(Value("sha256$"), F("previous_key_hash")))
    ApiKey.objects.filter(previous).exclude(previous_prefix=LEGACY_PREFIX).update(
        previous_key_hash=Concat(Value(hmac_form), F("previous_key_hash")))


def _bare_hashes(apps, schema_editor):
    """Back to bare hex; hashes already re-hashed under a newer pepper cannot go back and stop working."""
    ApiKey = apps.get_model("keys", "ApiKey")
    for column in ("key_hash", "previous_key_hash"):
        named = Q(**{f"{column}__length__gt": HEX_LENGTH})
        ApiKey.objects.filter(named).update(**{column: Substr(F(column), Length(F(column)) - HEX_LENGTH + 1)})


class Migration(migrations.Migration):
    dependencies = [("keys", "0007_hashes_name_their_scheme")]

    operations = [migrations.RunPython(_name_schemes, _bare_hashes)]
