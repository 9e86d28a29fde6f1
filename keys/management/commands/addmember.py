import getpass
import os

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Role
from core.errors import ApplicationError
from keys.company_services import company_get_or_create, membership_set, user_create

PASSWORD_VARIABLE = "KEYHOUSE_PASSWORD"


class Command(BaseCommand):
    help = (
        "Add USERNAME to a company with a role, creating the company and the user if missing. "
        f"A new user's password comes from ${PASSWORD_VARIABLE} or a prompt, never from the command line."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--company", required=True, help="Company name; created if missing.")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--email", default="")

    def _password(self) -> str:
        if os.environ.get(PASSWORD_VARIABLE):
            return os.environ[PASSWORD_VARIABLE]
        if not os.isatty(0):
            raise CommandError(f"Set {PASSWORD_VARIABLE} to give the new user a password (no terminal to ask on).")
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password (again): "):
            raise CommandError("The two passwords differ; nothing was changed.")
        return password

    def handle(self, *args, username, company, role, email, **options):
        try:
            company_obj = company_get_or_create(name=company)
            user = get_user_model().objects.filter(username=username).first()
            if user is None:
                user = user_create(username=username, email=email, password=self._password())
                self.stderr.write(f"Created user {username}.")
            membership = membership_set(user=user, company=company_obj, role=role)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(f"{username} is {membership.role} of {company_obj.name} (company id {company_obj.pk}).")
