"""Settings > Advanced > API-keys: thin HTML views over keys.selectors and keys.services, and
on a key's page its usage (usage.selectors), limits and history; the forms of that page that
change limits and restrictions are in web.key_detail_views.

A new or regenerated key is rendered into the response to the POST that made it, marked
no-store, and nowhere else: not the session, a message cookie or a URL. The page's script
then swaps the history entry for the plain GET URL, so a reload shows the list without it.
"""
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import Actor, allowed, company_keys_check, keys_acted_for, limits_check_manage
from audit.selectors import audit_events_visible_to
from core.errors import Conflict
from core.parsing import WHOLE_NUMBER
from keys import selectors, services
from keys.legacy import legacy_notice_mark_shown, legacy_status
from keys.limit_services import api_key_issue, api_key_issue_once
from keys.models import ApiKey
from usage import selectors as usage_selectors
from web.expiry_forms import KeyExpiryForm
from web.form_tokens import form_token_issue, form_token_nonce
from web.key_forms import (
    ApiKeyCreateForm,
    ApiKeyRegenerateForm,
    ApiKeyRenameForm,
    KeyFilterForm,
    KeyRestrictionsForm,
    add_service_error,
)
from web.limit_forms import KeyLimitsForm
from web.settings_views import dashboard_view, safe_next

# The periods the key page offers; the API takes any number of days from 1 to 365.
USAGE_PERIODS = (7, 30, 90)
DEFAULT_USAGE_DAYS = 30
HISTORY_LENGTH = 20
PAGE_SIZE = 50
REVOKED_FOLDED = 20  # the latest revoked keys under a list; the company view's status filter lists them all
SPARKLINE_DAYS = 7  # the list's usage column: a week shows a key's rhythm and fits a row
UNUSED_SHOWN = 20  # candidates to revoke above a list; the same status filter lists them all


def _legacy_notice(actor: Actor) -> dict | None:
    """keys.legacy.legacy_status while the person has legacy keys and has not dismissed the notice."""
    legacy = legacy_status(actor)
    return legacy if legacy["has_legacy_keys"] and not legacy["notice_shown"] else None


def _notices_context(actor: Actor, *, owner_id=None) -> dict:
    """The legacy-keys notice, and the newest of the active keys unused for the company's
    unused_key_days: candidates to revoke (the person's own on their list, everyone's on the
    company view). Only UNUSED_SHOWN of them, or old keys nobody uses would grow the page without end."""
    unused = selectors.api_keys_of_company(actor, owner_id=owner_id, status="unused")
    shown = list(unused[:UNUSED_SHOWN])
    return {
        "legacy_notice": _legacy_notice(actor),
        "unused_keys": shown,
        "unused_total": unused.count() if len(shown) == UNUSED_SHOWN else len(shown),
    }


def _page_number(raw: str | None) -> str:
    """Paginator.get_page's rules (not a number: the first page; out of range: the last), with
    a number written in ASCII digits only, not whatever int() reads ("٢", "1_0")."""
    return raw if raw and WHOLE_NUMBER.fullmatch(raw) else "1"


def _paged(listed, revoked, query) -> dict:
    """One page of `listed`, the latest of the `revoked` keys to fold under it, and the rest of
    the query for the page links to keep. A page number that is not one gives the nearest page."""
    page = Paginator(listed, PAGE_SIZE).get_page(_page_number(query.get("page")))
    kept = query.copy()
    kept.pop("page", None)
    return {"keys": page.object_list, "page": page, "page_query": kept.urlencode(),
            "limits_reached": usage_selectors.limits_reached(page.object_list),
            "revoked_keys": revoked[:REVOKED_FOLDED], "revoked_total": revoked.count(),
            "revoked_folded": REVOKED_FOLDED}


def _filtered(actor: Actor, query, *, members=None, owner_id=None) -> dict:
    """One page of the keys under the table's filters (search, status, mode, and the owner on
    the company view): revoked keys folded under it, the latest of them only, unless the status
    filter asks for them; and each listed key's requests per day for its sparkline."""
    filters = KeyFilterForm(query, members=members)
    chosen = filters.filters()
    found = selectors.api_keys_of_company(actor, **{"owner_id": owner_id, **chosen})
    listed, revoked = (found, found.none()) if chosen["status"] else (found.filter(revoked_at__isnull=True),
                                                                      found.filter(revoked_at__isnull=False))
    paged = _paged(listed, revoked, query)
    return {**paged, "filters": filters, "filtered": any(value is not None for value in chosen.values()),
            "sparkline_days": SPARKLINE_DAYS,
            "sparklines": usage_selectors.usage_daily_by_key(paged["keys"], SPARKLINE_DAYS)}


def _list_context(actor: Actor, query=None) -> dict:
    """One page of the person's own keys, filtered as on the company view."""
    found = _filtered(actor, query or QueryDict(), owner_id=actor.user.pk)
    return {"section": "api-keys", "page_url": reverse("dashboard:key-list"), **found,
            "acted_for": {key.pk for key in [*found["keys"], *found["revoked_keys"]]},  # their own
            "revoked_url": reverse("dashboard:key-list") + "?status=revoked",
            "unused_url": reverse("dashboard:key-list") + "?status=unused",
            **_notices_context(actor, owner_id=actor.user.pk)}


def _company_context(actor: Actor, query=None) -> dict:
    """One page of the company's keys, under the filters the page links keep."""
    company_keys_check(actor, "see every key of the company. Your own keys are under API-keys.")
    members = get_user_model().objects.filter(memberships__company=actor.company).order_by("username")
    found = _filtered(actor, query or QueryDict(), members=members)
    return {
        "section": "company-keys",
        **found,
        "acted_for": keys_acted_for(actor, [*found["keys"], *found["revoked_keys"]]),
        "revoked_url": reverse("dashboard:company-keys") + "?status=revoked",
        "unused_url": reverse("dashboard:company-keys") + "?status=unused",
        "page_url": reverse("dashboard:company-keys"),
        **_notices_context(actor),
    }


def usage_days(raw: str) -> tuple[int, str]:
    """The chosen period, or the default and a note saying why it was not the one asked for."""
    if raw in {str(days) for days in USAGE_PERIODS}:
        return int(raw), ""
    if raw == "":
        return DEFAULT_USAGE_DAYS, ""
    return DEFAULT_USAGE_DAYS, f"“{raw[:20]}” is not a period this page offers (7, 30 or 90 days); showing 30 days."


def detail_context(actor: Actor, key: ApiKey, *, days: int = DEFAULT_USAGE_DAYS, days_note: str = "",
                    limits_form: KeyLimitsForm | None = None,
                    restrictions_form: KeyRestrictionsForm | None = None, name_form: ApiKeyRenameForm | None = None,
                    expiry_form: KeyExpiryForm | None = None) -> dict:
    """The key page; a form given is one sent with errors, shown in its open panel
    (web.key_detail_views)."""
    granularity, points = usage_selectors.usage_timeseries(days, api_key=key)
    limits = usage_selectors.limits_use(key)
    events = list(audit_events_visible_to(actor, api_key_id=key.pk)
                  .select_related("actor_key")[:HISTORY_LENGTH + 1])
    return {
        "section": "api-keys",
        "key": key,
        "rename_form": name_form or ApiKeyRenameForm(initial={"name": key.name}),
        "expiry_form": expiry_form or KeyExpiryForm.for_key(key),
        "page_url": reverse("dashboard:key-detail", args=[key.pk]),
        "days": days,
        "days_note": days_note,
        "periods": USAGE_PERIODS,
        "totals": usage_selectors.usage_summary(key, days),
        "series": {"granularity": granularity, "points": points, "days": days},
        "tiers": usage_selectors.usage_by_tier(key, days),
        "errors": usage_selectors.usage_errors(key, days),
        "limits": limits,
        "limits_reached": usage_selectors.limits_reached([key]),
        "editable": not (key.is_revoked or key.has_expired),
        "may_change_limits": not key.is_revoked and allowed(limits_check_manage, actor, key),
        "acted_for": keys_acted_for(actor, [key]),
        "limits_form": limits_form or KeyLimitsForm.for_limit(limits and limits["limit"]),
        "restrictions_form": restrictions_form or KeyRestrictionsForm.for_key(key),
        "events": events[:HISTORY_LENGTH],
        "more_events": len(events) > HISTORY_LENGTH,
        "legacy_notice": _legacy_notice(actor),
    }


def render_page(request, actor, template: str, context: dict, status: int = 200):
    return render(request, template, {"actor": actor, **context}, status=status)


@sensitive_variables("raw")
def _shown_once(request, actor, template: str, context: dict, key: ApiKey, raw: str, *, regenerated: bool):
    shown = {"key": key, "raw": raw, "regenerated": regenerated}
    response = render_page(request, actor, template, {**context, "shown": shown})
    response["Cache-Control"] = "no-store"
    return response


def _create_form(request, actor) -> ApiKeyCreateForm:
    return ApiKeyCreateForm(company=actor.company, initial={"form_token": form_token_issue(request)})


@require_GET
@dashboard_view
def key_list(request, actor):
    context = {**_list_context(actor, request.GET), "create_form": _create_form(request, actor)}
    return render_page(request, actor, "keys/list.html", context)


@require_GET
@dashboard_view
def company_keys(request, actor):
    return render_page(request, actor, "keys/company.html", _company_context(actor, request.GET))


def _create_refused(request, actor, form: ApiKeyCreateForm, status: int):
    """A create form with its errors, where it was sent from: in the list's dialog, opened
    again on the list, or on its own page."""
    if request.POST.get("from") == "list":
        context = {**_list_context(actor), "create_form": form, "create_open": True}
        return render_page(request, actor, "keys/list.html", context, status)
    return render_page(request, actor, "keys/new.html", {"section": "api-keys", "form": form}, status)


@require_http_methods(["GET", "POST"])
@dashboard_view
@sensitive_variables("raw")
def key_new(request, actor):
    if request.method == "GET":
        return render_page(request, actor, "keys/new.html",
                           {"section": "api-keys", "form": _create_form(request, actor)})
    form = ApiKeyCreateForm(request.POST, company=actor.company)
    token = request.POST.get("form_token", "")
    nonce = form_token_nonce(request, token) if token else None
    if token and nonce is None:
        form.add_error(None, "This form was not made for you on this site, so no key was created. "
                             "Press Create in a fresh form to make the key.")
        form.data = {**form.data.dict(), "form_token": form_token_issue(request)}
        return _create_refused(request, actor, form, 400)
    if not form.is_valid():
        return _create_refused(request, actor, form, 400)
    fields = {"grantor": actor, "company": actor.company, "owner": actor.user, "name": form.cleaned_data["name"],
              "mode": form.cleaned_data["mode"], "expires_at": form.expires_at}
    try:
        key, raw = api_key_issue_once(creation_token=nonce, **fields) if nonce else api_key_issue(**fields)
    except ValidationError as error:
        add_service_error(form, error)
        return _create_refused(request, actor, form, 400)
    except Conflict as error:  # the cap on active keys: the form was fine, the moment was not
        add_service_error(form, error)
        return _create_refused(request, actor, form, 409)
    context = {**_list_context(actor), "create_form": _create_form(request, actor)}
    if raw is None:  # this form made its key already: a reload, a double click, a second tab
        return render_page(request, actor, "keys/list.html", {**context, "already_created": key}, status=409)
    context["same_name"] = selectors.api_keys_of_company(actor, owner_id=actor.user.pk).active().filter(
        name=key.name).exclude(pk=key.pk)[:3]
    return _shown_once(request, actor, "keys/list.html", context, key, raw, regenerated=False)


@require_http_methods(["GET", "POST"])
@dashboard_view
def key_rename(request, actor, key_id):
    key = selectors.api_key_get(actor, key_id)
    old_name = key.name
    form = ApiKeyRenameForm(request.POST if request.method == "POST" else None, initial={"name": key.name})
    if request.method == "POST" and form.is_valid():
        try:
            services.api_key_update(api_key=key, grantor=actor, name=form.cleaned_data["name"])
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"Renamed “{old_name}” to “{key.name}”. The key itself is unchanged and "
                                      "keeps working.")
            return redirect(safe_next(request, reverse("dashboard:key-list")))
    status = 400 if request.method == "POST" else 200
    context = {"section": "api-keys", "key": key, "form": form,
               "next": request.POST.get("next") or request.GET.get("next", "")}
    return render_page(request, actor, "keys/rename.html", context, status)


@require_http_methods(["GET", "POST"])
@dashboard_view
def key_revoke(request, actor, key_id):
    key = selectors.api_key_get(actor, key_id)
    if request.method == "GET":
        return render_page(request, actor, "keys/confirm_revoke.html", {"section": "api-keys", "key": key})
    was_revoked = key.is_revoked
    services.api_key_revoke(api_key=key, actor_user=actor.user)
    if was_revoked:
        messages.info(request, f"“{key.name}” was already revoked on {key.revoked_at:%Y-%m-%d}; nothing changed.")
    else:
        messages.success(
            request,
            f"Revoked “{key.name}”. Requests with it are now refused with 401. "
            "If an app still needs access, generate a new key and update the app.",
        )
    return redirect(safe_next(request, reverse("dashboard:key-list")))


@require_http_methods(["GET", "POST"])
@dashboard_view
@sensitive_variables("raw")
def key_regenerate(request, actor, key_id):
    """Regenerate now, or with a grace period in which the current value keeps working too."""
    key = selectors.api_key_get(actor, key_id)
    page = request.POST.get("from") or request.GET.get("from", "")
    form = ApiKeyRegenerateForm(request.POST if request.method == "POST" else None)
    context = {"section": "api-keys", "key": key, "from_page": page, "form": form}
    if request.method == "GET":
        return render_page(request, actor, "keys/confirm_regenerate.html", context)
    if not form.is_valid():
        return render_page(request, actor, "keys/confirm_regenerate.html", context, status=400)
    try:
        key, raw = services.api_key_regenerate(
            api_key=key, grantor=actor, grace_period_seconds=form.cleaned_data["grace_period_seconds"])
    except ValidationError as error:
        add_service_error(form, error)
        return render_page(request, actor, "keys/confirm_regenerate.html", context, status=400)
    except Conflict as error:
        return render_page(request, actor, "keys/confirm_regenerate.html", {**context, "error": error.message},
                           status=409)
    if page == "company" and allowed(company_keys_check, actor, ""):
        return _shown_once(request, actor, "keys/company.html", _company_context(actor), key, raw, regenerated=True)
    if page == "detail":
        return _shown_once(request, actor, "keys/detail.html", detail_context(actor, key), key, raw, regenerated=True)
    context = {**_list_context(actor), "create_form": _create_form(request, actor)}
    return _shown_once(request, actor, "keys/list.html", context, key, raw, regenerated=True)


@require_POST
@dashboard_view
def legacy_notice_dismiss(request, actor):
    legacy_notice_mark_shown(actor)
    messages.info(request, "The notice about legacy keys will not be shown again. Legacy keys keep their "
                           "“Legacy” badge until they are regenerated.")
    return redirect(safe_next(request, reverse("dashboard:key-list")))
