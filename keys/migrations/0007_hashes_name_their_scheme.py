"""Room for hashes that name their scheme and pepper (keys.crypto), the reference of an imported
key, and the key a key was created with. The hashes themselves are rewritten by 0008, in a
migration of its own: PostgreSQL refuses to change a table's indexes in the transaction that
changed its rows."""
from django.db import migrations, models


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
        migrations.AlterField(
            model_name='auditevent',
            name='action',
            field=models.CharField(choices=[('key.created', 'Key created'), ('key.renamed', 'Key renamed'), ('key.expiry_changed', 'Key expiry changed'), ('key.regenerated', 'Key regenerated'), ('key.revoked', 'Key revoked'), ('key.grace_ended', "Key's old value stopped"), ('limits.set', 'Limits set'), ('limits.changed', 'Limits changed'), ('limits.removed', 'Limits removed'), ('restrictions.changed', 'Restrictions changed'), ('membership.added', 'Member added'), ('membership.role_changed', "Member's role changed"), ('membership.removed', 'Member removed'), ('company.policy_changed', 'Key policy changed'), ('security.revoked_key_used', 'Revoked key used'), ('security.expired_key_used', 'Expired key used'), ('security.restriction_refused', 'Key refused by a restriction'), ('security.key_leaked', 'Key reported leaked')], max_length=40),
        ),
    ]
