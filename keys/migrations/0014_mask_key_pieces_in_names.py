"""Mask what looks like a key, or a piece of one, in the names already stored.

Names were refused only when they held a whole key; one cut short (a copy that missed its last
characters) was stored and shown, though its lost end can be worked out again from the rest.
Names are now refused for such pieces (core.crypto.NAME_KEY_PATTERN, keys.models.key_name_validator);
this masks them in the old ones as the dashboard shows keys, so `prod sk_live_AbCdEf…` becomes
`prod sk_live_AbCd…`, and leaves `task_test_runner` as it is."""
from django.db import migrations

from core.crypto import NAME_KEY_PATTERN, mask_keys
from keys import cache as key_cache


def mask_names(apps, schema_editor):
    ApiKey = apps.get_model("keys", "ApiKey")
    masked = []
    named = ApiKey.objects.filter(name__contains="sk_").only("id", "name", "key_hash", "previous_key_hash")
    for key in named.iterator():
        if NAME_KEY_PATTERN.search(key.name):
            ApiKey.objects.filter(pk=key.pk).update(name=mask_keys(key.name, NAME_KEY_PATTERN))
            masked += key_cache.hashes_of(key)
    # The historical model's update() is not ApiKeyQuerySet's, which forgets what it changes: a
    # snapshot cached before the upgrade would show the old name for up to API_KEY_CACHE_SECONDS.
    if masked:
        key_cache.forget(*masked)


class Migration(migrations.Migration):

    dependencies = [
        ('keys', '0013_key_change_generation'),
    ]

    # A masked key cannot be unmasked: going back leaves the names masked.
    operations = [migrations.RunPython(mask_names, migrations.RunPython.noop)]
