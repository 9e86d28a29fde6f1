from django.contrib.admin.apps import AdminConfig


class KeyhouseAdminConfig(AdminConfig):
    """Django admin with Keyhouse's site: company admins and owners get in, scoped."""

    default_site = "web.admin_site.KeyhouseAdminSite"
