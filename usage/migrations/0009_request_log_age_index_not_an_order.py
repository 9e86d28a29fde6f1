import usage.models
from django.db import migrations


class Migration(migrations.Migration):
    """The request log's created_at index, pruning's, is BRIN on PostgreSQL (a B-tree elsewhere,
    as before): the planner cannot walk a BRIN index in order, so a key's first page reads the
    key's own index instead of the created_at one backwards through every other key's newer rows.
    SQLite keeps a B-tree and, the two plans costing about the same there, prefers the index
    made first: this one now comes after the key's, which a cursor page then reads. The new
    index is built before the old one goes, so pruning always has one."""

    dependencies = [
        ('usage', '0008_request_log_index_in_list_order'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='requestlog',
            index=usage.models.RangeIndex(fields=['created_at'], name='requestlog_age_idx'),
        ),
        migrations.RemoveIndex(
            model_name='requestlog',
            name='requestlog_time_idx',
        ),
    ]
