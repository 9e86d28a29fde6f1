"""Settings > Advanced > API-keys: thin HTML views over keys.selectors and keys.services.

A new or regenerated key is rendered into the response to the POST that made it, marked
no-store, and nowhere else: not the session, a message cookie or a URL. The page's script
then swaps the history entry for the plain GET URL, so a reload shows the list without it.
"""
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import Actor
from accounts.views import dashboard_view, safe_next
from config.errors import Conflict, PermissionDenied, ValidationFailed
from keys import selectors, services
from keys.forms import ApiKeyCreateForm, ApiKeyRenameForm, CompanyKeyFilterForm, add_service_error
from keys.models import ApiKey

def _split_revoked(keys) -> tuple[list, list]:
    keys = list(keys)
    return [k for k in keys if not k.is_revoked], [k for k in keys if k.is_revoked]


def _list_context(actor: Actor) -> dict:
    keys, revoked = _split_revoked(selectors.api_keys_of_company(actor, owner_id=actor.user.pk))
    return {"section": "api-keys", "keys": keys, "revoked_keys": revoked, "page_url": reverse("dashboard:key-list")}


def _company_context(actor: Actor, query=None) -> dict:
    if not actor.manages_company_keys:
        raise PermissionDenied(
            "Only company admins and owners see every key of the company. Your own keys are under API-keys."
        )
    members = get_user_model().objects.filter(memberships__company=actor.company).order_by("username")
    filters = CompanyKeyFilterForm(query or {}, members=members)
    chosen = filters.filters()
    found = selectors.api_keys_of_company(actor, **chosen)
    keys, revoked = (list(found), []) if chosen["status"] else _split_revoked(found)
    return {
        "section": "company-keys",
        "keys": keys,
        "revoked_keys": revoked,
        "filters": filters,
        "filtered": any(value is not None for value in chosen.values()),
        "page_url": reverse("dashboard:company-keys"),
    }


def _detail_context(actor: Actor, key: ApiKey) -> dict:
    return {
        "section": "api-keys",
        "key": key,
        "rename_form": ApiKeyRenameForm(initial={"name": key.name}),
        "page_url": reverse("dashboard:key-detail", args=[key.pk]),
    }


def _page(request, actor, template: str, context: dict, status: int = 200):
    return render(request, template, {"actor": actor, **context}, status=status)


@sensitive_variables("raw")
def _shown_once(request, actor, template: str, context: dict, key: ApiKey, raw: str, *, regenerated: bool):
    response = _page(request, actor, template, {**context, "shown": {"key": key, "raw": raw, "regenerated": regenerated}})
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@dashboard_view
def key_list(request, actor):
    return _page(request, actor, "keys/list.html", {**_list_context(actor), "create_form": ApiKeyCreateForm()})


@require_GET
@dashboard_view
def company_keys(request, actor):
    return _page(request, actor, "keys/company.html", _company_context(actor, request.GET))


@require_http_methods(["GET", "POST"])
@dashboard_view
@sensitive_variables("raw")
def key_new(request, actor):
    form = ApiKeyCreateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            key, raw = services.api_key_create(
                company=actor.company,
                owner=actor.user,
                created_by=actor.user,
                name=form.cleaned_data["name"],
                mode=form.cleaned_data["mode"],
                expires_at=form.expires_at,
            )
        except ValidationFailed as error:
            add_service_error(form, error)
        else:
            context = {**_list_context(actor), "create_form": ApiKeyCreateForm()}
            return _shown_once(request, actor, "keys/list.html", context, key, raw, regenerated=False)
    status = 400 if request.method == "POST" else 200
    return _page(request, actor, "keys/new.html", {"section": "api-keys", "form": form}, status)


@require_GET
@dashboard_view
def key_detail(request, actor, key_id):
    key = selectors.api_key_get(actor, key_id)
    return _page(request, actor, "keys/detail.html", _detail_context(actor, key))


@require_http_methods(["GET", "POST"])
@dashboard_view
def key_rename(request, actor, key_id):
    key = selectors.api_key_get(actor, key_id)
    old_name = key.name
    form = ApiKeyRenameForm(request.POST if request.method == "POST" else None, initial={"name": key.name})
    if request.method == "POST" and form.is_valid():
        try:
            services.api_key_update(api_key=key, name=form.cleaned_data["name"])
        except ValidationFailed as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"Renamed “{old_name}” to “{key.name}”. The key itself is unchanged and keeps working.")
            return redirect(safe_next(request, reverse("dashboard:key-list")))
    status = 400 if request.method == "POST" else 200
    context = {"section": "api-keys", "key": key, "form": form, "next": request.POST.get("next") or request.GET.get("next", "")}
    return _page(request, actor, "keys/rename.html", context, status)


@require_http_methods(["GET", "POST"])
@dashboard_view
def key_revoke(request, actor, key_id):
    key = selectors.api_key_get(actor, key_id)
    if request.method == "GET":
        return _page(request, actor, "keys/confirm_revoke.html", {"section": "api-keys", "key": key})
    was_revoked = key.is_revoked
    services.api_key_revoke(api_key=key, revoked_by=actor.user)
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
    key = selectors.api_key_get(actor, key_id)
    page = request.POST.get("from") or request.GET.get("from", "")
    context = {"section": "api-keys", "key": key, "from_page": page}
    if request.method == "GET":
        return _page(request, actor, "keys/confirm_regenerate.html", context)
    try:
        key, raw = services.api_key_regenerate(api_key=key)
    except Conflict as error:
        return _page(request, actor, "keys/confirm_regenerate.html", {**context, "error": error.message}, status=409)
    if page == "company" and actor.manages_company_keys:
        return _shown_once(request, actor, "keys/company.html", _company_context(actor), key, raw, regenerated=True)
    if page == "detail":
        return _shown_once(request, actor, "keys/detail.html", _detail_context(actor, key), key, raw, regenerated=True)
    context = {**_list_context(actor), "create_form": ApiKeyCreateForm()}
    return _shown_once(request, actor, "keys/list.html", context, key, raw, regenerated=True)
