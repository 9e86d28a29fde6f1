"""Mask the pieces of keys already stored in the request log.

0010 masked whole keys; a key cut short (a User-Agent's copy that missed its last characters)
was left as it was, though the checksum it lost can be worked out again from the rest. Masking
now hides any piece of a key longer than the dashboard's prefix (core.crypto.mask_keys), and
this rewrites the old rows the same way, with 0010's function."""
from importlib import import_module

from django.db import migrations

mask_logged_keys = import_module("usage.migrations.0010_mask_keys_already_logged").mask_logged_keys


class Migration(migrations.Migration):

    dependencies = [
        ('usage', '0011_limit_counter_reserved'),
    ]

    # A masked key cannot be unmasked: going back leaves the rows masked.
    operations = [migrations.RunPython(mask_logged_keys, migrations.RunPython.noop)]
