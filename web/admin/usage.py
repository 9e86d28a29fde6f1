from django.contrib import admin

from usage.models import RequestLog
from web.admin.accounts import ReadOnlyScopedAdmin


class OutcomeFilter(admin.SimpleListFilter):
    title = "outcome"
    parameter_name = "outcome"

    def lookups(self, request, model_admin):
        return [("success", "Success (2xx, 3xx)"), ("failed", "Failed (4xx, 5xx)")]

    def queryset(self, request, queryset):
        if self.value() == "success":
            return queryset.filter(status_code__lt=400)
        if self.value() == "failed":
            return queryset.filter(status_code__gte=400)
        return queryset


@admin.register(RequestLog)
class RequestLogAdmin(ReadOnlyScopedAdmin):
    list_display = ["created_at", "api_key", "method", "path", "status_code", "tier", "cost_microcents", "latency_ms",
                    "client_ip"]
    list_filter = [OutcomeFilter, "tier", ("api_key", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["api_key"]
    date_hierarchy = "created_at"
    search_fields = ["path", "api_key__name", "api_key__prefix"]
