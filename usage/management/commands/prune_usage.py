from argparse import ArgumentTypeError
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from core.durations import days_in
from core.parsing import whole_argument
from usage.services import usage_prune
from usage.tasks import usage_prune_older_than


def days(text: str) -> int:
    if (count := days_in(text)) is None:
        raise ArgumentTypeError(f"takes a number of days such as 90d, not {text!r}")
    return count


class Command(BaseCommand):
    help = ("Delete request-log rows older than --older-than (e.g. 90d), in batches, here or (--in-background) "
            "in the worker. Hourly and daily rollups are kept.")

    def add_arguments(self, parser):
        parser.add_argument("--older-than", required=True, type=days, dest="days")
        parser.add_argument("--batch-size", type=whole_argument, default=5000)
        parser.add_argument("--in-background", action="store_true",
                            help="Queue the prune for the worker (manage.py db_worker) and return at once.")

    def handle(self, *args, days, batch_size, in_background, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        if in_background:
            result = usage_prune_older_than.enqueue(days=days, batch_size=batch_size)
            self.stdout.write(f"Queued for the worker (task {result.id}): delete request-log rows older than "
                              f"{days} days.")
            return
        before = timezone.now() - timedelta(days=days)
        deleted = usage_prune(before=before, batch_size=batch_size,
                              progress=lambda n: self.stderr.write(f"… {n} rows deleted so far"))
        self.stdout.write(f"Deleted {deleted} request-log rows older than {before:%Y-%m-%d %H:%M} UTC; "
                          "hourly and daily rollups kept.")
