from django.contrib import admin

from keys.models import ApiKey


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Read-only for now: keys change only through keys.services (the admin issue adds actions)."""

    list_display = ["name", "prefix", "owner", "company", "mode", "created_at", "last_used_at", "expires_at", "revoked_at"]
    list_filter = ["mode", "company"]
    search_fields = ["name", "prefix", "owner__username"]
    exclude = ["key_hash"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
