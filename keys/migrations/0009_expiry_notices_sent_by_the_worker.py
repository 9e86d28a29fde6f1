"""Expiry notices are recorded first and sent by the worker. Every existing row was mailed as
it was written, so each keeps its sent_at; new rows start unsent."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('keys', '0008_name_existing_hashes'),
    ]

    operations = [
        migrations.AddField(
            model_name='expirynotice',
            name='claimed_until',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='expirynotice',
            name='sent_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
