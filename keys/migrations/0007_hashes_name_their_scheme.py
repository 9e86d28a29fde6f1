"""Stored hashes name their scheme and pepper (keys.crypto): `hmac-sha256$<pepper id>$<hex>`
for keys issued here, `sha256$<hex>` for keys imported from the system we replace. Existing
hashes were made with the one pepper configured before this release, the first of
API_KEY_PEPPERS (or API_KEY_PEPPER): migrate before adding a new pepper. One UPDATE per
column and kind, however many keys."""
import hashlib
import hmac

from django.conf import settings
from django.db import migrations, models
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
    dependencies = [("keys", "0006_grace_and_legacy")]

    operations = [
        migrations.AlterField(
            model_name="apikey", name="key_hash",
            field=models.CharField(editable=False, help_text="The value's hash, naming its scheme and pepper "
                                   "(keys.crypto).", max_length=100, unique=True)),
        migrations.AlterField(
            model_name="apikey", name="previous_key_hash",
            field=models.CharField(blank=True, editable=False, max_length=100, null=True, unique=True)),
        migrations.AlterField(
            model_name="apikey", name="is_legacy",
            field=models.BooleanField(default=False, editable=False,
                                      help_text="Imported from an older system: its value has that system's format.")),
        migrations.AddField(
            model_name="apikey", name="legacy_import_ref",
            field=models.CharField(blank=True, db_index=True, editable=False, help_text="For an imported key: a "
                                   "keyed hash of the SHA-256 it was imported with, so that importing the same file "
                                   "again never brings back a key regenerated or revoked since.", max_length=100,
                                   null=True)),
        migrations.AddField(
            model_name="apikey", name="created_with_key",
            field=models.ForeignKey(blank=True, editable=False, help_text="The key whose holder created this one, "
                                    "if made with a key: a leak of it names these.", null=True,
                                    on_delete=models.deletion.SET_NULL, related_name="keys_created",
                                    to="keys.apikey")),
        migrations.RunPython(_name_schemes, _bare_hashes),
        migrations.AlterField(
            model_name='auditevent',
            name='action',
            field=models.CharField(choices=[('key.created', 'Key created'), ('key.renamed', 'Key renamed'), ('key.expiry_changed', 'Key expiry changed'), ('key.regenerated', 'Key regenerated'), ('key.revoked', 'Key revoked'), ('key.grace_ended', "Key's old value stopped"), ('limits.set', 'Limits set'), ('limits.changed', 'Limits changed'), ('limits.removed', 'Limits removed'), ('restrictions.changed', 'Restrictions changed'), ('membership.added', 'Member added'), ('membership.role_changed', "Member's role changed"), ('membership.removed', 'Member removed'), ('company.policy_changed', 'Key policy changed'), ('security.revoked_key_used', 'Revoked key used'), ('security.expired_key_used', 'Expired key used'), ('security.restriction_refused', 'Key refused by a restriction'), ('security.key_leaked', 'Key reported leaked')], max_length=40),
        ),
    ]
