import csv
import re
from datetime import UTC

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import Company
from core.errors import ApplicationError
from keys.limit_services import api_key_import
from keys.selectors import legacy_state_forget

COLUMNS = ["user", "company", "name", "sha256_of_key", "created_at", "expires_at"]
SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _moment(text: str, column: str, required: bool):
    if not text.strip():
        if required:
            raise ValueError(f"{column} is required")
        return None
    moment = parse_datetime(text.strip())
    if moment is None:
        raise ValueError(f"{column} {text!r} is not an ISO 8601 time")
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, UTC)


class Command(BaseCommand):
    help = ("Import keys from the system we replace, from a CSV with the columns " + ", ".join(COLUMNS) + ". "
            "No raw keys are needed: they authenticate by their SHA-256 and are flagged legacy. Re-running "
            "skips keys imported before.")

    def add_arguments(self, parser):
        parser.add_argument("file")

    def handle(self, *args, file, **options):
        try:
            # Opened apart from the `with` below so that only open()'s OSError becomes the message.
            handle = open(file, newline="", encoding="utf-8-sig")  # noqa: SIM115 (closed by `with handle`)
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror}") from None
        created = skipped = 0
        rejected = []
        with handle:
            reader = csv.DictReader(handle)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise CommandError(f"{file} lacks the column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)}.")
            for line, row in enumerate(reader, start=2):
                try:
                    key = self._import(row)
                except ValidationError as error:
                    rejected.append(f"line {line}: {' '.join(error.messages)}")
                    continue
                except (ValueError, ApplicationError) as error:
                    rejected.append(f"line {line}: {getattr(error, 'message', error)}")
                    continue
                created, skipped = (created + 1, skipped) if key else (created, skipped + 1)
        if created:
            legacy_state_forget()
        self.stdout.write(f"{created} created, {skipped} skipped (imported before), {len(rejected)} rejected."
                          + (" Running servers accept the new keys within a minute." if created else ""))
        for reason in rejected:
            self.stdout.write(f"  rejected {reason}")

    def _import(self, row):
        digest = (row["sha256_of_key"] or "").strip().lower()
        if not SHA256.match(digest):
            raise ValueError("sha256_of_key must be 64 hexadecimal characters")
        user = get_user_model().objects.filter(username=(row["user"] or "").strip()).first()
        company = Company.objects.filter(name=(row["company"] or "").strip()).first()
        if user is None or company is None:
            raise ValueError(f"no user {row['user']!r}" if user is None else f"no company {row['company']!r}")
        return api_key_import(company=company, owner=user, name=row["name"] or "", sha256_of_key=digest,
                                     created_at=_moment(row["created_at"] or "", "created_at", True),
                                     expires_at=_moment(row["expires_at"] or "", "expires_at", False))
