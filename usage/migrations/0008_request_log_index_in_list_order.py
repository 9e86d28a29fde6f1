from django.db import migrations, models


class Migration(migrations.Migration):
    """The key's index of the request log carries id after created_at, in the list's order
    (-created_at, -id): a page reads its rows off the index with no sort, and no planner
    prefers the created_at index, which walks every other key's rows. The new index is built
    before the old one goes, so the list always has one."""

    dependencies = [
        ('usage', '0007_management_limit_counted_across_workers'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='requestlog',
            index=models.Index(fields=['api_key', '-created_at', '-id'], name='requestlog_key_time_id_idx'),
        ),
        migrations.RemoveIndex(
            model_name='requestlog',
            name='requestlog_key_time_idx',
        ),
    ]
