"""A key's page and the forms on it: its name, expiry, limits and restrictions, each in a panel
of its own. Each form refuses a revoked or expired key (409), validates, calls one service and
says what changed, or that nothing did, inside the panel it was sent from."""
from functools import wraps

from django.contrib import messages
from django.contrib.messages import get_messages
from django.contrib.messages.storage.base import Message
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.access import limits_check_manage
from keys import limit_services, selectors, services
from keys.models import RESTRICTION_FIELDS, ApiKey, KeyLimit
from web.changes import limits_change, limits_summary, restrictions_change
from web.expiry_forms import KeyExpiryForm
from web.key_forms import ApiKeyRenameForm, KeyRestrictionsForm, add_service_error
from web.key_views import DEFAULT_USAGE_DAYS, detail_context, render_page, usage_days
from web.limit_forms import SERVICE_NAMES, KeyLimitsForm
from web.settings_views import dashboard_view

PANELS = ("name", "expiry", "limits", "restrictions")
PANEL_TAG = "panel-"  # a message's extra_tags: the panel it is shown in, instead of the page's top


def _detail_url(key: ApiKey, days: int, anchor: str) -> str:
    query = "" if days == DEFAULT_USAGE_DAYS else f"?days={days}"
    return f"{reverse('dashboard:key-detail', args=[key.pk])}{query}#{anchor}"


def _page(request, actor, key: ApiKey, *, days: int, status: int = 200, open_panel: str = "", **context):
    """The key page: messages about a panel go into it and open it; the rest stay at the top."""
    panel_messages: dict[str, list[Message]] = {panel: [] for panel in PANELS}
    page_messages: list[Message] = []
    for message in get_messages(request):
        panel = message.extra_tags.removeprefix(PANEL_TAG)
        panel_messages.get(panel, page_messages).append(message)
    opened = {panel for panel, found in panel_messages.items() if found} | {open_panel}
    return render_page(request, actor, "keys/detail.html", {
        **detail_context(actor, key, days=days, **context), "panel_messages": panel_messages,
        "page_messages": page_messages, "open_panels": opened,
    }, status)


def _editable(key: ApiKey) -> bool:
    return not (key.is_revoked or key.has_expired)


def _say(request, panel: str, level, text: str) -> None:
    messages.add_message(request, level, text, extra_tags=PANEL_TAG + panel)


def _refuse_closed(request, actor, key: ApiKey, days: int, what: str):
    state = "revoked" if key.is_revoked else "expired"
    messages.error(request, f"“{key.name}” is {state}, so its {what} can no longer be changed; nothing changed.")
    return _page(request, actor, key, days=days, status=409)


def _what_changed(key: ApiKey, what: str, before, after, change: str, first: str = "") -> tuple[int, str]:
    if before == after:
        return messages.INFO, f"The {what} of “{key.name}” were already these; nothing changed."
    if before is None and first:
        return messages.SUCCESS, f"{first} They apply from the next request."
    return messages.SUCCESS, f"{what.capitalize()} of “{key.name}” changed: {change}. They apply from the next request."


def _panel_save(request, actor, key: ApiKey, panel: str, form, save, what: str = ""):
    """What every panel's form does: refuse a revoked or expired key (409), validate, call
    `save` (one service call, returning the level and words of the message, or raising
    ValidationError), then say so in the panel and go back to it; or show the page again
    with the panel open on its errors (400), nothing changed."""
    days, _ = usage_days(request.POST.get("days", ""))
    if not _editable(key):
        return _refuse_closed(request, actor, key, days, what or panel)
    if form.is_valid():
        try:
            level, text = save()
        except ValidationError as error:
            add_service_error(form, error)
        else:
            _say(request, panel, level, text)
            return redirect(_detail_url(key, days, panel))
    return _page(request, actor, key, days=days, status=400, open_panel=panel, **{f"{panel}_form": form})


def panel_form_view(view):
    """A view of one of the key page's forms: POST only, signed in (dashboard_view), and given
    the key its URL names, which the actor must be able to see (404 otherwise)."""

    @require_POST
    @dashboard_view
    @wraps(view)
    def wrapper(request, actor, key_id):
        return view(request, actor, selectors.api_key_get(actor, key_id))

    return wrapper


def _key_field_set(actor, key: ApiKey, field: str, value) -> bool:
    """Sets the key's name or expiry through the service (which may raise ValidationError);
    whether it really changed."""
    before = getattr(key, field)
    services.api_key_update(api_key=key, grantor=actor, **{field: value})
    return getattr(key, field) != before


def _limits_of(key: ApiKey) -> dict | None:
    limit = KeyLimit.objects.filter(api_key=key).first()
    return None if limit is None else {name: getattr(limit, name) for name in SERVICE_NAMES.values()}


def _restrictions_of(key: ApiKey) -> dict:
    return {field: getattr(key, field) for field in RESTRICTION_FIELDS}


@require_GET
@dashboard_view
def key_detail(request, actor, key_id):
    key = selectors.api_key_get(actor, key_id)
    days, note = usage_days(request.GET.get("days", ""))
    return _page(request, actor, key, days=days, days_note=note)


@panel_form_view
def key_name_set(request, actor, key):
    old_name = key.name
    form = ApiKeyRenameForm(request.POST)

    def save():
        if not _key_field_set(actor, key, "name", form.cleaned_data["name"]):
            return messages.INFO, f"The name was already “{key.name}”; nothing changed."
        return messages.SUCCESS, f"Renamed “{old_name}” to “{key.name}”. The key itself is unchanged and keeps working."
    return _panel_save(request, actor, key, "name", form, save)


@panel_form_view
def key_expiry_set(request, actor, key):
    """A new expiry, earlier or later, on the person's clock; the service holds it to the
    company's key policy and the grant rule (a later expiry widens what the key may do)."""
    form = KeyExpiryForm(request.POST, company=key.company)

    def save():
        if not _key_field_set(actor, key, "expires_at", form.expires_at):
            return messages.INFO, f"“{key.name}” already expires then; nothing changed."
        if key.expires_at is None:
            return messages.SUCCESS, f"“{key.name}” no longer expires."
        return messages.SUCCESS, f"“{key.name}” now expires at {form.described()}."
    return _panel_save(request, actor, key, "expiry", form, save)


@panel_form_view
def key_limits_set(request, actor, key):
    limits_check_manage(actor, key)
    form = KeyLimitsForm(request.POST)

    def save():
        before = _limits_of(key)
        limit_services.limits_set(api_key=key, grantor=actor, **form.limits())
        after = _limits_of(key)
        return _what_changed(key, "limits", before, after, before and limits_change(before, after),
                             first=f"Limits set for “{key.name}”: {limits_summary(after)}.")
    return _panel_save(request, actor, key, "limits", form, save)


@panel_form_view
def key_limits_delete(request, actor, key):
    limits_check_manage(actor, key)
    days, _ = usage_days(request.POST.get("days", ""))
    if not _editable(key):
        return _refuse_closed(request, actor, key, days, "limits")
    before = _limits_of(key)
    if limit_services.limits_delete(api_key=key, grantor=actor):
        _say(request, "limits", messages.SUCCESS, f"Removed the limits of “{key.name}” (they were "
                                                  f"{limits_summary(before)}); it may make any number of requests "
                                                  "again.")
    else:
        _say(request, "limits", messages.INFO, f"“{key.name}” had no limits; nothing changed.")
    return redirect(_detail_url(key, days, "limits"))


@panel_form_view
def key_restrictions_set(request, actor, key):
    """The key's owner, company admins and owners (key_check_manage, as for regenerate) replace
    its IP addresses, referrers and scopes; the service validates every entry."""
    form = KeyRestrictionsForm(request.POST)

    def save():
        before = _restrictions_of(key)
        services.api_key_set_restrictions(api_key=key, grantor=actor, **form.restrictions())
        after = _restrictions_of(key)
        return _what_changed(key, "restrictions", before, after, restrictions_change(before, after))
    return _panel_save(request, actor, key, "restrictions", form, save)
