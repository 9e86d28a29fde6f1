"""The forms of a key's page that change its limits and restrictions. Each refuses a revoked
key (409), validates, calls one service and says what changed, or that nothing did."""
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.access import limits_check_manage
from keys import limit_services, selectors, services
from keys.models import RESTRICTION_FIELDS, ApiKey, KeyLimit
from web.changes import limits_change, limits_summary, restrictions_change
from web.key_forms import KeyRestrictionsForm, add_service_error
from web.key_views import DEFAULT_USAGE_DAYS, detail_context, render_page, usage_days
from web.limit_forms import KeyLimitsForm
from web.settings_views import dashboard_view


def _detail_url(key: ApiKey, days: int, anchor: str) -> str:
    query = "" if days == DEFAULT_USAGE_DAYS else f"?days={days}"
    return f"{reverse('dashboard:key-detail', args=[key.pk])}{query}#{anchor}"


def _refuse_revoked(request, actor, key: ApiKey, days: int, what: str):
    messages.error(request, f"“{key.name}” is revoked, so its {what} no longer matter; nothing changed.")
    return render_page(request, actor, "keys/detail.html", detail_context(actor, key, days=days), status=409)


def _say_what_changed(request, key: ApiKey, what: str, before, after, change: str, first: str = "") -> None:
    if before == after:
        messages.info(request, f"The {what} of “{key.name}” were already these; nothing changed.")
    elif before is None and first:
        messages.success(request, f"{first} They apply from the next request.")
    else:
        messages.success(request, f"{what.capitalize()} of “{key.name}” changed: {change}. "
                                  "They apply from the next request.")


def _limits_of(key: ApiKey) -> dict | None:
    limit = KeyLimit.objects.filter(api_key=key).first()
    return None if limit is None else {name: getattr(limit, name) for name in KeyLimitsForm.base_fields}


def _restrictions_of(key: ApiKey) -> dict:
    return {field: getattr(key, field) for field in RESTRICTION_FIELDS}


@require_POST
@dashboard_view
def key_limits_set(request, actor, key_id):
    key = selectors.api_key_get(actor, key_id)
    limits_check_manage(actor, key)
    days, _ = usage_days(request.POST.get("days", ""))
    if key.is_revoked:
        return _refuse_revoked(request, actor, key, days, "limits")
    form = KeyLimitsForm(request.POST)
    if form.is_valid():
        before = _limits_of(key)
        try:
            limit_services.limits_set(api_key=key, grantor=actor, **form.cleaned_data)
        except ValidationError as error:
            add_service_error(form, error)
        else:
            after = _limits_of(key)
            _say_what_changed(request, key, "limits", before, after, before and limits_change(before, after),
                              first=f"Limits set for “{key.name}”: {limits_summary(after)}.")
            return redirect(_detail_url(key, days, "limits"))
    return render_page(request, actor, "keys/detail.html", detail_context(actor, key, days=days, limits_form=form), 400)


@require_POST
@dashboard_view
def key_limits_delete(request, actor, key_id):
    key = selectors.api_key_get(actor, key_id)
    limits_check_manage(actor, key)
    before = _limits_of(key)
    if limit_services.limits_delete(api_key=key, grantor=actor):
        messages.success(request, f"Removed the limits of “{key.name}” (they were {limits_summary(before)}); "
                                  "it may make any number of requests again.")
    else:
        messages.info(request, f"“{key.name}” had no limits; nothing changed.")
    days, _ = usage_days(request.POST.get("days", ""))
    return redirect(_detail_url(key, days, "limits"))


@require_POST
@dashboard_view
def key_restrictions_set(request, actor, key_id):
    """The key's owner, company admins and owners (key_check_manage, as for regenerate) replace
    its IP addresses, referrers and scopes; the service validates every entry."""
    key = selectors.api_key_get(actor, key_id)
    days, _ = usage_days(request.POST.get("days", ""))
    if key.is_revoked:
        return _refuse_revoked(request, actor, key, days, "restrictions")
    form = KeyRestrictionsForm(request.POST)
    if form.is_valid():
        before = _restrictions_of(key)
        try:
            services.api_key_set_restrictions(api_key=key, grantor=actor, **form.restrictions())
        except ValidationError as error:
            add_service_error(form, error)
        else:
            after = _restrictions_of(key)
            _say_what_changed(request, key, "restrictions", before, after, restrictions_change(before, after))
            return redirect(_detail_url(key, days, "restrictions"))
    context = detail_context(actor, key, days=days, restrictions_form=form)
    return render_page(request, actor, "keys/detail.html", context, 400)
