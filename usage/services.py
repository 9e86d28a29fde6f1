from collections.abc import Callable
from datetime import datetime

from django.db import transaction

from usage.models import RequestLog


def usage_prune(*, before: datetime, batch_size: int = 5000, progress: Callable[[int], object] | None = None) -> int:
    """Delete raw log rows older than `before` in batches (rollups stay); returns the count."""
    deleted = 0
    while True:
        ids = list(
            RequestLog.objects.filter(created_at__lt=before).order_by("id").values_list("id", flat=True)[:batch_size]
        )
        if not ids:
            return deleted
        with transaction.atomic():
            deleted += RequestLog.objects.filter(id__in=ids).delete()[0]
        if progress:
            progress(deleted)
