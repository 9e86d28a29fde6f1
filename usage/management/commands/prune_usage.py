import re
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from usage.services import usage_prune


def days_ago(text: str):
    match = re.fullmatch(r"(\d{1,5})d", text)
    if not match:
        raise CommandError(f"--older-than takes a number of days such as 90d, not {text!r}.")
    return timezone.now() - timedelta(days=int(match[1]))


class Command(BaseCommand):
    help = "Delete request-log rows older than --older-than (e.g. 90d), in batches. Hourly and daily rollups are kept."

    def add_arguments(self, parser):
        parser.add_argument("--older-than", required=True, type=days_ago, dest="before")
        parser.add_argument("--batch-size", type=int, default=5000)

    def handle(self, *args, before, batch_size, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        deleted = usage_prune(before=before, batch_size=batch_size,
                              progress=lambda n: self.stderr.write(f"… {n} rows deleted so far"))
        self.stdout.write(f"Deleted {deleted} request-log rows older than {before:%Y-%m-%d %H:%M} UTC; "
                          "hourly and daily rollups kept.")
