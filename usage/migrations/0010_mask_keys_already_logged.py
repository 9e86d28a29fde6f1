"""Mask the keys already stored in the request log.

Until this release a key pasted into a request's User-Agent or Origin (or a host's free-text
path) was stored whole, and shown on usage/requests and in admin; new rows are masked as they
are recorded (usage.middleware). This rewrites the old ones the same way. Only rows holding
"sk_" in one of those columns are read, in batches, so a log without any costs one scan.
"""
from django.db import migrations

from core.crypto import mask_keys

COLUMNS = ("path", "user_agent", "domain")
BATCH = 1000


def mask_logged_keys(apps, schema_editor):
    RequestLog = apps.get_model("usage", "RequestLog")
    for column in COLUMNS:
        # The ids first: SQLite does not isolate a read from writes to the same table on one
        # connection, so rows are not rewritten while a query over them is still open.
        ids = list(RequestLog.objects.filter(**{f"{column}__contains": "sk_"}).values_list("pk", flat=True))
        for start in range(0, len(ids), BATCH):
            rows = list(RequestLog.objects.filter(pk__in=ids[start:start + BATCH]).only("pk", column))
            for row in rows:
                setattr(row, column, mask_keys(getattr(row, column)))
            RequestLog.objects.bulk_update(rows, [column])


class Migration(migrations.Migration):

    dependencies = [
        ('usage', '0009_request_log_age_index_not_an_order'),
    ]

    # A masked key cannot be unmasked: going back leaves the rows masked.
    operations = [migrations.RunPython(mask_logged_keys, migrations.RunPython.noop)]
