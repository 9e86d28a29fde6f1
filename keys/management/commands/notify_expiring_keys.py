import re
from datetime import timedelta

from django.core.mail import send_mail
from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError, transaction
from django.utils import timezone

from keys.models import ApiKey, ExpiryNotice


def days(text: str) -> timedelta:
    match = re.fullmatch(r"(\d{1,4})d", text)
    if not match:
        raise CommandError(f"--within takes a number of days such as 7d, not {text!r}.")
    return timedelta(days=int(match[1]))


class Command(BaseCommand):
    help = ("Email each key's owner, once per key and expiry date, about active keys expiring within --within "
            "(default 7d). Safe to run from cron as often as you like.")

    def add_arguments(self, parser):
        parser.add_argument("--within", type=days, default=timedelta(days=7))

    def handle(self, *args, within, **options):
        now = timezone.now()
        due = (ApiKey.objects.active(now).filter(expires_at__lte=now + within)
               .select_related("owner", "company").order_by("expires_at"))
        sent = already = no_email = 0
        for key in due:
            if not key.owner.email:
                no_email += 1
                self.stderr.write(f"{key.prefix}… ({key.owner.get_username()}) expires {key.expires_at:%Y-%m-%d %H:%M} "
                                  "UTC, but its owner has no email address.")
                continue
            try:
                with transaction.atomic():
                    ExpiryNotice.objects.create(api_key=key, expires_at=key.expires_at)
                    send_mail(
                        f"Your API key \"{key.name}\" expires on {key.expires_at:%Y-%m-%d}",
                        f"Hello {key.owner.get_username()},\n\nYour API key \"{key.name}\" ({key.prefix}…) in "
                        f"{key.company.name} stops working at {key.expires_at:%Y-%m-%d %H:%M} UTC.\n\n"
                        "To keep your applications running, generate a new key in Settings > Advanced > API-keys "
                        "(or regenerate this one with a grace period) and update them before then.\n",
                        None, [key.owner.email],
                    )
            except IntegrityError:
                already += 1  # told before about this expiry
                continue
            sent += 1
        self.stdout.write(f"{sent} owner(s) emailed; {already} key(s) already notified; "
                          f"{no_email} key(s) whose owner has no email.")
