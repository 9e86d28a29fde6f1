"""The settings layout around every dashboard page: which company a person is acting in,
the company switcher and the General page with the company's key policy."""
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from accounts.access import Actor, actor_for, allowed, policy_check_manage
from accounts.models import POLICY_FIELDS, Membership
from core.errors import ApplicationError, Forbidden, NotFound
from keys.company_services import company_policy_set
from web.changes import policy_change
from web.key_forms import add_service_error
from web.policy_forms import KeyPolicyForm

# The switcher keeps the chosen company id here; it is not a secret, and actor_for checks
# the membership again on every request, so a stale or forged id grants nothing.
SESSION_COMPANY_KEY = "company_id"


def actor_from_session(request) -> Actor:
    """The company chosen in the switcher, else the person's first company by name."""
    memberships = list(Membership.objects.select_related("company").filter(user=request.user))
    chosen = request.session.get(SESSION_COMPANY_KEY)
    if not any(m.company_id == chosen for m in memberships):
        chosen = memberships[0].company_id if memberships else None
    actor = actor_for(request.user, chosen)
    request.memberships = memberships
    return actor


def dashboard_view(view):
    """Signs the person in, resolves their Actor and turns the access rules' NotFound and
    Forbidden into the 404 and 403 pages, so views only handle the happy path."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, actor_from_session(request), *args, **kwargs)
        except NotFound as error:
            return render(request, "404.html", {"message": error.message}, status=404)
        except Forbidden as error:
            return render(request, "403.html", {"message": error.message}, status=403)

    return wrapper


def safe_next(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return default


def _policy_of(company) -> dict:
    return {field: getattr(company, field) for field in POLICY_FIELDS}


def _general(request, actor: Actor, policy_form=None, status: int = 200):
    if policy_form is None and allowed(policy_check_manage, actor):
        policy_form = KeyPolicyForm(initial=_policy_of(actor.company))
    context = {"actor": actor, "section": "general", "policy_form": policy_form}
    return render(request, "settings/general.html", context, status=status)


@require_GET
@dashboard_view
def settings_general(request, actor):
    return _general(request, actor)


@require_POST
@dashboard_view
def settings_key_policy(request, actor):
    """Owners set the key policy (keys.company_services.company_policy_set, as the API's PUT);
    admins and members read it on the General page, and their POST is 403."""
    policy_check_manage(actor)
    form = KeyPolicyForm(request.POST)
    if form.is_valid():
        before = _policy_of(actor.company)
        try:
            company_policy_set(company=actor.company, actor_user=actor.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_error(form, error)
        else:
            after = _policy_of(actor.company)
            if before == after:
                messages.info(request, f"The key policy of {actor.company.name} was already this; nothing changed.")
            else:
                change = policy_change(before, after)
                messages.success(request, f"Key policy of {actor.company.name} changed: {change}. "
                                          "It applies to keys created or extended from now on.")
            return redirect(reverse("settings-general") + "#key-policy")
    return _general(request, actor, form, status=400)


@require_POST
@dashboard_view
def company_switch(request, actor):
    company_id = request.POST.get("company", "").strip()
    try:
        chosen = actor_for(request.user, company_id) if company_id else None
    except (ApplicationError, NotFound):
        chosen = None
    if chosen is None:
        raise NotFound("That is not one of your companies; pick one from the list.")
    request.session[SESSION_COMPANY_KEY] = chosen.company.pk
    messages.success(request, f"You are now working in {chosen.company.name}; the keys shown are that company's.")
    return redirect(safe_next(request, reverse("dashboard:key-list")))
