from argparse import ArgumentTypeError
from datetime import timedelta

from django.core.management.base import BaseCommand

from core.durations import days_in
from keys.notices import expiry_notices_record
from keys.tasks import expiry_notices_send


def days(text: str) -> timedelta:
    if (count := days_in(text)) is None:
        raise ArgumentTypeError(f"takes a number of days such as 7d, not {text!r}")
    return timedelta(days=count)


class Command(BaseCommand):
    help = ("Email each key's owner, once per key and expiry date, about active keys expiring within --within "
            "(default 7d): records the notices and queues their sending for the worker (manage.py db_worker). "
            "Safe to run from cron as often as you like.")

    def add_arguments(self, parser):
        parser.add_argument("--within", type=days, default=timedelta(days=7))

    def handle(self, *args, within, **options):
        notices = expiry_notices_record(within=within)
        for key in notices.no_email:
            self.stderr.write(f"{key.prefix}… ({key.owner.get_username()}) expires {key.expires_at:%Y-%m-%d %H:%M} "
                              "UTC, but its owner has no email address.")
        if notices.new or notices.unsent:
            expiry_notices_send.enqueue()
        self.stdout.write(f"{notices.new} owner(s) to email, queued for the worker; {notices.unsent} notice(s) "
                          f"not sent yet, queued again; {notices.sent_before} key(s) already notified; "
                          f"{len(notices.no_email)} key(s) whose owner has no email.")
