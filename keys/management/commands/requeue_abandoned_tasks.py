from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from core.parsing import whole_argument


class Command(BaseCommand):
    help = ("Put back in the queue every task a worker started more than --older-than minutes ago (default 15) and "
            "never finished: its worker was killed (SIGKILL, out of memory, a lost machine) and no other worker "
            "would ever take it, so a leak notice would never be sent. A task then runs again, so a mail may go "
            "out twice; never not at all. Safe to run from cron as often as you like.")

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=whole_argument, default=15, metavar="MINUTES",
                            help="Minutes a task may run before it counts as abandoned (a mail gives up after "
                                 "EMAIL_TIMEOUT, 30 s by default).")

    def handle(self, *args, older_than, **options):
        if older_than < 1:
            self.stderr.write("--older-than takes at least 1 minute: a running task would be run twice at once.")
            raise SystemExit(2)
        abandoned = DBTaskResult.objects.running().filter(started_at__lt=timezone.now() - timedelta(minutes=older_than))
        for task in abandoned.order_by("started_at"):
            self.stdout.write(f"{task.task_path} ({task.id}), started {task.started_at:%Y-%m-%d %H:%M:%S} UTC by "
                              f"{task.worker_ids[-1] if task.worker_ids else 'an unknown worker'}: queued again.")
        count = abandoned.update(status=TaskResultStatus.READY, started_at=None)
        self.stdout.write(f"{count} abandoned task(s) queued again.")
