from argparse import ArgumentTypeError
from datetime import UTC, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from accounts.access import OPERATOR, actor_for
from core.durations import days_in
from core.errors import ApplicationError
from keys.limit_services import api_key_issue
from keys.models import Mode


def parse_expiry(text: str) -> datetime:
    """`30d` from now, a date (midnight UTC that day) or an ISO 8601 time with a zone."""
    if (days := days_in(text)) is not None:
        return timezone.now() + timedelta(days=days)
    if day := parse_date(text):
        return datetime.combine(day, time.min, tzinfo=UTC)
    moment = parse_datetime(text)
    if moment is None or timezone.is_naive(moment):
        raise ArgumentTypeError(f"takes 30d, 2027-01-31 or 2027-01-31T12:00:00Z, not {text!r}")
    return moment


class Command(BaseCommand):
    help = "Create an API key for USERNAME and print the raw key, alone, on stdout (notices go to stderr)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", required=True, help="What the key is for, e.g. 'Data Pipeline'.")
        parser.add_argument("--company", help="Company name; needed when the user is in several.")
        parser.add_argument("--mode", choices=Mode.values, default=Mode.LIVE)
        parser.add_argument("--expires", type=parse_expiry, help="30d, 2027-01-31 or an ISO 8601 time.")

    def handle(self, *args, username, name, company, mode, expires, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(
                f"No user {username!r}; add one with: manage.py addmember {username} --company ... --role member"
            )
        try:
            company_id = (
                user.memberships.filter(company__name=company).values_list("company_id", flat=True).first()
                if company
                else None
            )
            if company and company_id is None:
                raise CommandError(f"{username} is not a member of {company!r}.")
            actor = actor_for(user, company_id)
            # The operator at a shell is bound by no role, but the key still gets its company's default limit.
            key, raw = api_key_issue(grantor=OPERATOR, company=actor.company, owner=user, name=name, mode=mode,
                                     expires_at=expires)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        expiry = f", expires {key.expires_at.isoformat()}" if key.expires_at else ", never expires"
        self.stderr.write(
            f"Created key {key.pk} ({key.prefix}…, {mode}{expiry}) for {username} in {actor.company.name}."
        )
        self.stdout.write(raw)
