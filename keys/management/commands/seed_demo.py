import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from accounts.models import Role
from keys.company_services import company_get_or_create, membership_set

DEMO_COMPANY = "Acme"
DEMO_USER = "demo"


class Command(BaseCommand):
    help = "Create the demo company Acme with its owner 'demo' (once), and print how to sign in."

    def handle(self, *args, **options):
        # The password lives next to the database it belongs to, readable only by its owner,
        # so running this again can print it again without resetting it.
        password_file = settings.BASE_DIR / "var" / "demo-password"
        company = company_get_or_create(name=DEMO_COMPANY)
        user = get_user_model().objects.filter(username=DEMO_USER).first()
        if user is None:
            password = secrets.token_urlsafe(12)
            user = get_user_model().objects.create_user(DEMO_USER, password=password)
            password_file.parent.mkdir(exist_ok=True)
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
        membership_set(user=user, company=company, role=Role.OWNER)
        if password_file.is_file():
            password = password_file.read_text().strip()
            self.stdout.write(f"Demo sign-in: user '{DEMO_USER}', password '{password}' (company {DEMO_COMPANY}).")
        else:
            self.stdout.write(
                f"Demo user '{DEMO_USER}' exists; set a password with: manage.py changepassword {DEMO_USER}"
            )
