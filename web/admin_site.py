"""Django admin for superusers and for company admins and owners, each seeing only their own
companies' data. Members never get in."""
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from accounts.access import companies_administered_by


def may_use_admin(user) -> bool:
    return user.is_active and (user.is_superuser or companies_administered_by(user).exists())


class CompanyAdminAuthenticationForm(AdminAuthenticationForm):
    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "invalid_login": "Enter the username and password of a company admin or owner. "
                         "Members manage their keys under Settings > Advanced > API-keys.",
    }

    def confirm_login_allowed(self, user):
        if not may_use_admin(user):
            raise ValidationError(self.error_messages["invalid_login"], code="invalid_login")


class KeyhouseAdminSite(admin.AdminSite):
    site_header = "Keyhouse administration"
    site_title = "Keyhouse admin"
    login_form = CompanyAdminAuthenticationForm

    def has_permission(self, request):
        return may_use_admin(request.user)
