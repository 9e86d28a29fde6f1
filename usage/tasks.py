"""Deleting old request-log rows for the worker (`manage.py prune_usage --in-background`), so a
long prune runs outside whatever queued it."""
from datetime import timedelta

from django.utils import timezone
from django_tasks import task

from usage.services import usage_prune


@task()
def usage_prune_older_than(*, days: int, batch_size: int = 5000) -> int:
    """Days, not a date: the cut-off is counted from when the worker runs it."""
    return usage_prune(before=timezone.now() - timedelta(days=days), batch_size=batch_size)
