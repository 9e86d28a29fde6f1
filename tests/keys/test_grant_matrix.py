"""The grant rule (keys.grants, accounts.access) as one matrix: every route of the URLconf and
every ApiKeyAdmin view, inline and action that hands out a key value or changes a key, × every
kind of caller, × whose key it is. The expected outcome is computed by `grant_rule`, the rule
stated once in plain Python, never looked up in a hand-written table of outcomes.

The tables below only say what each route does (reads, creates, regenerates, widens,
narrows, changes limits); the first tests fail when the URLconf or ApiKeyAdmin gains a route,
method, action or inline the tables do not classify, so a new way to obtain or widen a key
cannot slip past the matrix."""
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib import admin
from django.test import Client
from django.urls import URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.views import APIView

from accounts.access import OPERATOR
from accounts.models import Role
from core import crypto
from keys.limit_services import limits_set
from keys.models import ApiKey, KeyLimit
from keys.services import api_key_regenerate
from tests.clients import key_client, problem, session_client
from tests.factories import PASSWORD, CompanyFactory, make_key, member
from web.admin.keys import ApiKeyAdmin

pytestmark = pytest.mark.django_db

API, DASHBOARD, ADMIN = "api", "dashboard", "admin"
PREFIXES = {"api/v1/": API, "settings/advanced/api-keys/": DASHBOARD}
ADMIN_MODELS = (ApiKey, KeyLimit)
OWNER, ADMIN_ROLE, MEMBER = Role.OWNER, Role.ADMIN, Role.MEMBER
ALL = "all"

# ---------------------------------------------------------------------------------------------
# Who calls: a person by session, or a key acting for its owner. The keys that are not plain
# 'all' keys belong to an owner, who may act for everyone, so only the key's own bounds decide.

@dataclass(frozen=True)
class Caller:
    role: str
    by_key: bool = False
    scopes: tuple = (ALL,)
    grace: bool = False  # the old value of a key regenerated with a grace period
    limited: bool = False  # the key has a usage.KeyLimit (CALLER_LIMIT)


CALLERS = {
    "owner-session": Caller(OWNER),
    "admin-session": Caller(ADMIN_ROLE),
    "member-session": Caller(MEMBER),
    "owner-key": Caller(OWNER, by_key=True),
    "admin-key": Caller(ADMIN_ROLE, by_key=True),
    "member-key": Caller(MEMBER, by_key=True),
    "scoped-key": Caller(OWNER, by_key=True, scopes=("keys:read", "keys:write")),
    "read-only-key": Caller(OWNER, by_key=True, scopes=("audit:read", "keys:read", "usage:read")),
    "grace-value": Caller(OWNER, by_key=True, grace=True),
    "limited-key": Caller(OWNER, by_key=True, limited=True),
}
SESSIONS = [name for name, caller in CALLERS.items() if not caller.by_key]

# Whose key (or, on a route that names a person, who): another key of the caller's own person,
# the very key making the request, or a key of another member, admin or owner.
OWN, THIS_KEY = "own", "this-key"
OTHERS = {"member": MEMBER, "admin": ADMIN_ROLE, "owner": OWNER}
PERSONS = [OWN, *OTHERS]

# What the keys hold. Limits are (request_limit, reset_period).
TARGET_SCOPES = ("keys:read", "usage:read")
CALLER_LIMIT = (50, "daily")
TARGET_LIMIT = (1000, "daily")  # looser than the limited caller's
RAISED_LIMIT = (5000, "daily")
CLIENT_IP = "127.0.0.1"  # the test client's address: every key is restricted to it, so lifting is a change
RENAMED = "Renamed"

# What a route does to a key.
CREATE, REGENERATE, WIDEN, LIMITS, NARROW, READ, FORBIDDEN = (
    "create", "regenerate", "widen", "limits", "narrow", "read", "forbidden")
# Which scopes a route grants: every area, the calling key's own (a create's default), or the
# target key's (a regenerate hands out its value).
GRANTS_ALL, GRANTS_CALLERS, GRANTS_TARGETS = "all", "caller's", "target's"


@dataclass(frozen=True)
class Op:
    kind: str
    ok: int  # the status of a success
    body: Callable | dict | None = None
    grants: str | None = None
    sets: tuple | None = None  # LIMITS: the new limit; None removes it
    effect: str = ""  # what a success leaves in the database (EFFECTS)
    refused: int = 403  # the status of a refusal
    marker: str = ""  # admin: how a refusal shows on the page it leads to
    follow: bool = False  # admin actions: read the message on the page redirected to
    outlives: bool = False  # gives the target an expiry later than the calling key's

    def data(self, world):
        return self.body(world) if callable(self.body) else self.body


READS = "reads only"
REGENERATE_BODY = {"grace_period_seconds": 0}


def _later(world) -> dict:
    return {"expires_at": world.later.isoformat()}


API_ROUTES = {
    ("me", "GET"): READS,
    ("company-policy", "GET"): READS,
    ("company-policy", "PUT"): "the company's key policy, for keys made later; owners only (tests/accounts)",
    ("user-api-keys", "GET"): READS,
    ("user-api-keys", "POST"): {"create-for": Op(CREATE, 201, {"name": "Minted", "scopes": [ALL]},
                                                 grants=GRANTS_ALL, effect="created")},
    ("user-api-key-revoke", "POST"): {"revoke": Op(NARROW, 204, effect="revoked")},
    ("api-keys", "GET"): READS,
    ("api-keys", "POST"): {"create": Op(CREATE, 201, {"name": "Minted"}, grants=GRANTS_CALLERS, effect="created")},
    ("api-keys-legacy-status", "GET"): READS,
    ("api-keys-legacy-notice-shown", "POST"): "the person's notice flag, no key",
    ("api-key-detail", "GET"): READS,
    ("api-key-detail", "PATCH"): {"rename": Op(NARROW, 200, {"name": RENAMED}, effect="renamed"),
                                  "extend-expiry": Op(WIDEN, 200, _later, effect="extended", outlives=True)},
    ("api-key-detail", "DELETE"): {"revoke": Op(NARROW, 204, effect="revoked")},
    ("api-key-regenerate", "POST"): {"regenerate": Op(REGENERATE, 200, REGENERATE_BODY, grants=GRANTS_TARGETS,
                                                      effect="regenerated")},
    ("api-key-decrypt", "GET"): {"decrypt": Op(READ, 410)},  # would hand out a value; never can (hashed)
    ("api-key-restrictions", "GET"): READS,
    ("api-key-restrictions", "PUT"): {"lift-ips": Op(WIDEN, 200, {"allowed_ips": []}, effect="ips lifted"),
                                      "widen-scopes": Op(WIDEN, 200, {"scopes": [ALL]}, grants=GRANTS_ALL,
                                                         effect="all scopes")},
    ("leaks", "POST"): "signed by a secret scanner, no caller (test_leak_reports_take_no_caller)",
    ("audit-events", "GET"): READS,
    ("api-key-limits", "GET"): READS,
    ("api-key-limits", "PUT"): {"raise-limit": Op(LIMITS, 200, {"request_limit": RAISED_LIMIT[0],
                                                                "reset_period": RAISED_LIMIT[1]},
                                                  sets=RAISED_LIMIT, effect="limit raised")},
    ("api-key-limits", "DELETE"): {"remove-limit": Op(LIMITS, 204, sets=None, effect="limit removed")},
    **{(name, "GET"): READS for name in ("api-key-usage", "api-key-usage-by-tier", "api-key-usage-errors",
                                         "api-key-usage-requests", "api-key-usage-timeseries", "company-usage",
                                         "company-usage-timeseries", "demo-echo")},
    ("demo-report", "POST"): "a product route, no key (test_the_grace_value_still_reads_and_calls_product_routes)",
}


def _restrictions_form(world, **changes) -> dict:
    key = ApiKey.objects.get(pk=world.target_key.pk)
    return {"allowed_ips": "\n".join(key.allowed_ips), "allowed_referrers": "\n".join(key.allowed_referrers),
            "scopes": list(key.scopes), **changes}


DASHBOARD_ROUTES = {
    ("dashboard:key-list", "GET"): READS,
    ("dashboard:key-new", "GET"): READS,
    ("dashboard:key-new", "POST"): {"create": Op(CREATE, 200, {"name": "Minted", "never_expires": "on", "mode": "live"},
                                                 grants=GRANTS_CALLERS, effect="created")},
    ("dashboard:company-keys", "GET"): READS,
    ("dashboard:legacy-notice-dismiss", "POST"): "the person's notice flag, no key",
    ("dashboard:key-detail", "GET"): READS,
    ("dashboard:key-rename", "GET"): READS,
    ("dashboard:key-rename", "POST"): {"rename": Op(NARROW, 302, {"name": RENAMED}, effect="renamed")},
    ("dashboard:key-name", "POST"): {"rename": Op(NARROW, 302, {"name": RENAMED}, effect="renamed")},
    ("dashboard:key-expiry", "POST"): {"extend-expiry": Op(WIDEN, 302, lambda w: {
        "expires_on": f"{w.later:%Y-%m-%d}", "expires_time": f"{w.later:%H:%M}", "timezone": "UTC"},
        effect="extended to the minute")},
    ("dashboard:key-revoke", "GET"): READS,
    ("dashboard:key-revoke", "POST"): {"revoke": Op(NARROW, 302, {}, effect="revoked")},
    ("dashboard:key-regenerate", "GET"): READS,
    ("dashboard:key-regenerate", "POST"): {"regenerate": Op(REGENERATE, 200, REGENERATE_BODY, grants=GRANTS_TARGETS,
                                                            effect="regenerated")},
    ("dashboard:key-limits", "POST"): {"raise-limit": Op(LIMITS, 302, {
        "request_limit": RAISED_LIMIT[0], "budget_limit_microcents": "", "reset_period": RAISED_LIMIT[1],
        "enabled": "on"}, sets=RAISED_LIMIT, effect="limit raised")},
    ("dashboard:key-limits-remove", "POST"): {"remove-limit": Op(LIMITS, 302, {}, sets=None, effect="limit removed")},
    ("dashboard:key-restrictions", "POST"): {
        "lift-ips": Op(WIDEN, 302, lambda w: _restrictions_form(w, allowed_ips=""), effect="ips lifted"),
        "widen-scopes": Op(WIDEN, 302, lambda w: _restrictions_form(w, scopes=[ALL]), grants=GRANTS_ALL,
                           effect="all scopes")},
}


def _change_form(world, **changes) -> dict:
    """What the browser sends from ApiKeyAdmin's change page, with the KeyLimit inline as shown."""
    key = ApiKey.objects.get(pk=world.target_key.pk)
    limit = KeyLimit.objects.filter(api_key=key).first()
    expires = timezone.localtime(key.expires_at)
    data = {"name": key.name, "expires_at_0": f"{expires:%Y-%m-%d}", "expires_at_1": f"{expires:%H:%M:%S}",
            "allowed_ips": "\n".join(key.allowed_ips), "allowed_referrers": "\n".join(key.allowed_referrers),
            "scopes": list(key.scopes), "limit-TOTAL_FORMS": "1", "limit-INITIAL_FORMS": "1" if limit else "0",
            "limit-MIN_NUM_FORMS": "0", "limit-MAX_NUM_FORMS": "1", "limit-0-api_key": str(key.pk)}
    if limit:
        data.update({"limit-0-request_limit": str(limit.request_limit or ""),
                     "limit-0-budget_limit_microcents": str(limit.budget_limit_microcents or ""),
                     "limit-0-reset_period": limit.reset_period,
                     **({"limit-0-enabled": "on"} if limit.enabled else {})})
    return {**data, **changes}


def _add_form(world) -> dict:
    return {"company": str(world.company.pk), "owner": str(world.target_user.pk), "name": "Minted", "mode": "live",
            "expires_at_0": "", "expires_at_1": ""}


def _action(name, **extra):
    return lambda w: {"action": name, "_selected_action": [str(w.target_key.pk)], "index": "0", **extra}


REFUSED_FORM = "errorlist nonfield"
LATER = timedelta(days=30)  # what every key's expiry is extended by (extend_expiry's 30-day choice)
ADMIN_ROUTES = {
    ("admin:keys_apikey_changelist", "GET"): READS,
    ("admin:keys_apikey_changelist", "POST"): "the actions: ADMIN_ACTIONS",
    ("admin:keys_apikey_add", "GET"): READS,
    ("admin:keys_apikey_add", "POST"): {"create-for": Op(CREATE, 200, _add_form, effect="created", refused=200,
                                                         marker=REFUSED_FORM)},
    ("admin:keys_apikey_change", "GET"): READS,
    ("admin:keys_apikey_change", "POST"): {
        "rename": Op(NARROW, 302, lambda w: _change_form(w, name=RENAMED), effect="renamed"),
        "extend-expiry": Op(WIDEN, 302, lambda w: _change_form(w, expires_at_0=f"{w.later:%Y-%m-%d}",
                                                               expires_at_1=f"{w.later:%H:%M:%S}"),
                            effect="extended", refused=200, marker=REFUSED_FORM),
        "lift-ips": Op(WIDEN, 302, lambda w: _change_form(w, allowed_ips=""), effect="ips lifted", refused=200,
                       marker=REFUSED_FORM),
        "widen-scopes": Op(WIDEN, 302, lambda w: _change_form(w, scopes=[ALL]), grants=GRANTS_ALL,
                           effect="all scopes", refused=200, marker=REFUSED_FORM),
        "raise-limit": Op(LIMITS, 302, lambda w: _change_form(w, **{"limit-0-request_limit": str(RAISED_LIMIT[0])}),
                          sets=RAISED_LIMIT, effect="limit raised", refused=200, marker=REFUSED_FORM),
        "remove-limit": Op(LIMITS, 302, lambda w: _change_form(w, **{"limit-0-DELETE": "on"}), sets=None,
                           effect="limit removed", refused=200, marker=REFUSED_FORM),
    },
    ("admin:keys_apikey_delete", "GET"): READS,
    # Keys are revoked, never deleted: ApiKeyAdmin grants no delete permission.
    ("admin:keys_apikey_delete", "POST"): {"delete": Op(FORBIDDEN, 0, {"post": "yes"})},
    ("admin:keys_apikey_history", "GET"): READS,
    ("admin:keys_apikey_history", "POST"): READS,
    ("admin/keys/apikey/<path:object_id>/", "GET"): READS,  # redirects to the change page
    ("admin/keys/apikey/<path:object_id>/", "POST"): READS,
}
ADMIN_ACTIONS = {
    "revoke_selected": Op(NARROW, 302, _action("revoke_selected", confirmed="yes"), effect="revoked"),
    "extend_expiry": Op(WIDEN, 302, _action("extend_expiry", days=str(LATER.days)), effect="extended", refused=302,
                        marker="Not extended", follow=True),
    # Django's site-wide action; ApiKeyAdmin grants no delete permission, so it is never offered.
    "delete_selected": Op(FORBIDDEN, 0, _action("delete_selected", post="yes"), refused=302,
                          marker="No action selected", follow=True),
}
ADMIN_INLINES = {KeyLimit: ("raise-limit", "remove-limit")}
ADMIN_METHODS = ("GET", "POST")
ROUTE_TABLES = {API: API_ROUTES, DASHBOARD: DASHBOARD_ROUTES, ADMIN: ADMIN_ROUTES}


# ---------------------------------------------------------------------------------------------
# The rule, stated once.

def acts_for(role: str, target: str) -> bool:
    """Everyone for themselves, admins for members, owners for everyone."""
    return target in (OWN, THIS_KEY) or role == OWNER or (role == ADMIN_ROLE and target == "member")


def covers(mine: tuple, theirs: tuple | None) -> bool:
    """Whether `theirs` is limited at least as strictly as `mine`: same period, no higher bound."""
    return theirs is not None and theirs[1] == mine[1] and theirs[0] <= mine[0]


def granted_scopes(op: Op, caller: Caller, target: str) -> set:
    return {GRANTS_ALL: {ALL}, GRANTS_CALLERS: set(caller.scopes), None: set(),
            GRANTS_TARGETS: set(caller.scopes if target == THIS_KEY else TARGET_SCOPES)}[op.grants]


def limit_of(caller: Caller, target: str) -> tuple | None:
    if target == THIS_KEY:
        return CALLER_LIMIT if caller.limited else None
    return TARGET_LIMIT


def grant_rule(surface: str, op: Op, caller: Caller, target: str) -> str | None:
    """None when the caller may do this, else the code of the refusal."""
    own = target in (OWN, THIS_KEY)
    if caller.by_key:
        if surface != API:
            return "login_required"  # a key acts for its owner on the API only
        needed = "keys:read" if op.kind == READ else "keys:write"
        if ALL not in caller.scopes and needed not in caller.scopes:
            return "scope_not_allowed"  # a read-only key never changes state
        if caller.grace and op.kind != READ:
            return "grace_period_value"  # reads and product routes only
    if surface == ADMIN and caller.role == MEMBER:
        return "admin_login"  # members never enter Django admin
    if op.kind == FORBIDDEN:
        return "forbidden"
    if not own and caller.role == MEMBER:
        return "permission_denied"  # members only touch their own keys
    if op.kind in (NARROW, READ):
        return None  # revoke, rename and read stay open to admins
    if op.kind == LIMITS:
        if caller.role == MEMBER or (own and caller.role != OWNER) or not acts_for(caller.role, target):
            return "permission_denied"
        if caller.limited:
            # A limited key changes no limit: the keys it makes inherit its limit, and lifting
            # theirs (or its own) would undo that.
            return "limit_not_allowed"
        return None
    if not acts_for(caller.role, target):
        return "permission_denied"
    if caller.by_key and ALL not in caller.scopes and granted_scopes(op, caller, target) - set(caller.scopes):
        return "scope_not_allowed"  # a key never grants scopes beyond its own
    if caller.by_key and op.outlives:
        return "expiry_not_allowed"  # a key never makes a key outlive it
    if caller.limited and op.kind == REGENERATE and not covers(CALLER_LIMIT, limit_of(caller, target)):
        return "limit_not_allowed"  # a limited key obtains values only of keys limited as strictly
    return None


# ---------------------------------------------------------------------------------------------
# The routes, from the URLconf and ApiKeyAdmin.

def _walk(patterns, prefix="", namespace=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = ":".join(filter(None, [namespace, pattern.namespace]))
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        else:
            name = pattern.name and ":".join(filter(None, [namespace, pattern.name]))
            yield prefix + str(pattern.pattern), name, pattern.callback


@dataclass(frozen=True)
class Route:
    surface: str
    key: str  # the URL name, or the route itself when it has none
    path: str
    callback: object

    @property
    def kwargs(self) -> list[str]:
        return re.findall(r"<(?:\w+:)?(\w+)>", self.path)

    def methods(self, client=None) -> set[str]:
        """What the route answers to: a DRF view's handlers, admin's GET and POST, or, for a
        page, every method its decorators let through (probed: anything but 405)."""
        view_class = getattr(self.callback, "view_class", None)
        if view_class is not None and issubclass(view_class, APIView):
            return {m.upper() for m in view_class.http_method_names if m not in ("options", "head")
                    and hasattr(view_class, m)}
        if self.surface == ADMIN:
            return set(ADMIN_METHODS)
        url = self.url(key_id=uuid.uuid4())
        return {m for m in ("GET", "POST", "PUT", "PATCH", "DELETE")
                if client.generic(m, url).status_code != 405}

    def url(self, **values) -> str:
        values = {**values, "object_id": values.get("key_id")}  # admin names the key object_id
        return reverse(self.key, kwargs={name: values[name] for name in self.kwargs})


def routes() -> list[Route]:
    found = []
    for path, name, callback in _walk(get_resolver().url_patterns):
        model_admin = getattr(callback, "model_admin", None)
        if model_admin is not None and model_admin.model in ADMIN_MODELS:
            found.append(Route(ADMIN, name or path, path, callback))
        for prefix, surface in PREFIXES.items():
            if path.startswith(prefix):
                found.append(Route(surface, name or path, path, callback))
    return found


def admin_action_names() -> list[str]:
    own = [a if isinstance(a, str) else a.__name__ for a in ApiKeyAdmin.actions or ()]
    return list(dict.fromkeys([*own, *(name for name, _ in admin.site.actions)]))


@dataclass(frozen=True)
class Case:
    surface: str
    route: Route
    method: str
    op_name: str
    op: Op
    caller: str
    target: str

    @property
    def id(self) -> str:
        return f"{self.surface}/{self.op_name}/{self.caller}/{self.target}"


def _targets(surface: str, route: Route, caller: Caller) -> list[str]:
    if "key_id" in route.kwargs or "object_id" in route.kwargs or route.key.endswith("changelist"):
        if caller.by_key:
            return [OWN, *OTHERS, THIS_KEY] if surface == API else [THIS_KEY]
        return [OWN, *OTHERS]
    if "user_id" in route.kwargs or route.key.endswith("_add"):
        return [OWN] if caller.by_key and surface != API else PERSONS
    return [OWN]


def cases() -> list[Case]:
    found = []
    for route in routes():
        table = ROUTE_TABLES[route.surface]
        methods = ADMIN_METHODS if route.surface == ADMIN else ("GET", "POST", "PUT", "PATCH", "DELETE")
        for method in methods:
            ops = table.get((route.key, method))
            if route.surface == ADMIN and route.key.endswith("changelist") and method == "POST":
                ops = {name: ADMIN_ACTIONS[name] for name in admin_action_names() if name in ADMIN_ACTIONS}
            if not isinstance(ops, dict):
                continue
            callers = SESSIONS if route.surface == ADMIN else CALLERS  # keys never sign in to admin
            for op_name, op in ops.items():
                for caller in callers:
                    for target in _targets(route.surface, route, CALLERS[caller]):
                        found.append(Case(route.surface, route, method, op_name, op, caller, target))
    return found


CASES = cases()


# ---------------------------------------------------------------------------------------------
# Each case's world: a fresh company, the caller, the target's owner and fresh keys.

@dataclass
class World:
    company: object
    me: object
    caller_raw: str | None
    target_user: object
    target_key: ApiKey
    later: object


def build(caller: Caller, target: str) -> World:
    company = CompanyFactory(name="Acme")
    me = member(company, caller.role, username=f"{caller.role}-caller")
    soon = timezone.now().replace(microsecond=0) + timedelta(days=30)
    caller_key = raw = None
    if caller.by_key:
        caller_key, raw = make_key(me, name="Calling key", scopes=list(caller.scopes), expires_at=soon)
        if caller.limited:
            limits_set(api_key=caller_key, grantor=OPERATOR, request_limit=CALLER_LIMIT[0],
                       reset_period=CALLER_LIMIT[1])
        if caller.grace:  # `raw` is now the old value, accepted for an hour
            api_key_regenerate(api_key=caller_key, grantor=OPERATOR, grace_period_seconds=3600)
    if target == THIS_KEY:
        target_user, target_key = me, caller_key
    else:
        target_user = me if target == OWN else member(company, OTHERS[target], username=f"other-{target}")
        target_key, _ = make_key(target_user, name="Target key", scopes=list(TARGET_SCOPES), expires_at=soon)
        limits_set(api_key=target_key, grantor=OPERATOR, request_limit=TARGET_LIMIT[0], reset_period=TARGET_LIMIT[1])
    ApiKey.objects.update(allowed_ips=[CLIENT_IP])
    return World(company, me, raw, target_user, target_key, soon + LATER)


KEY_FIELDS = ("id", "owner_id", "name", "prefix", "key_hash", "previous_key_hash", "previous_expires_at",
              "revoked_at", "expires_at", "scopes", "allowed_ips", "allowed_referrers")


def stored() -> tuple[dict, dict]:
    """Every key and limit as stored (not last_used_at, which any use of a key moves)."""
    keys = {row["id"]: row for row in ApiKey.objects.values(*KEY_FIELDS)}
    limits = {row["api_key_id"]: row for row in KeyLimit.objects.values(
        "api_key_id", "request_limit", "budget_limit_microcents", "reset_period", "enabled")}
    return keys, limits


def _limit(row) -> tuple | None:
    return row and (row["request_limit"], row["reset_period"])


def changes(before, after) -> list[str]:
    """What differs between two `stored()` snapshots, one line per key, for failure messages."""
    (keys_before, limits_before), (keys_after, limits_after) = before, after
    found = [f"new key {keys_after[pk]['name']!r}" for pk in keys_after.keys() - keys_before.keys()]
    for pk, row in keys_before.items():
        now = keys_after.get(pk)
        fields = [f for f in KEY_FIELDS if now is None or row[f] != now[f]]
        if limits_before.get(pk) != limits_after.get(pk):
            fields.append(f"limit {_limit(limits_before.get(pk))} -> {_limit(limits_after.get(pk))}")
        if fields:
            found.append(f"{row['name']!r}: {', '.join(fields)}")
    return found


EFFECTS = {
    "revoked": lambda key, limit, w: key["revoked_at"] is not None,
    "renamed": lambda key, limit, w: key["name"] == RENAMED,
    "extended": lambda key, limit, w: key["expires_at"] == w.later,
    "extended to the minute": lambda key, limit, w: key["expires_at"] == w.later.replace(second=0),
    "ips lifted": lambda key, limit, w: key["allowed_ips"] == [],
    "all scopes": lambda key, limit, w: key["scopes"] == [ALL],
    "limit raised": lambda key, limit, w: _limit(limit) == RAISED_LIMIT,
    "limit removed": lambda key, limit, w: limit is None,
}


def perform(case: Case, world: World):
    caller = CALLERS[case.caller]
    url = case.route.url(key_id=world.target_key.pk, user_id=world.target_user.pk)
    data = case.op.data(world)
    if case.surface == API:
        client = key_client(world.caller_raw) if caller.by_key else session_client(world.me)
    else:
        client = Client(HTTP_API_KEY=world.caller_raw) if caller.by_key else Client()
        if not caller.by_key:
            client.force_login(world.me)
    client.raise_request_exception = False  # a crash is a 500 the case reports, like any wrong status
    if case.surface == API:
        body = {} if data is None else {"data": json.dumps(data), "content_type": "application/json"}
        return client.generic(case.method, url, **body)
    return client.post(url, data or {}, follow=case.op.follow)


def first_hop(case: Case, response) -> tuple[int, str]:
    """The status and Location of the response to the request itself, before any redirect followed."""
    if case.op.follow and response.redirect_chain:
        return response.redirect_chain[0][1], response.redirect_chain[0][0]
    return response.status_code, response.get("Location", "")


def check_refusal(case: Case, outcome: str, response, content: str) -> None:
    status, location = first_hop(case, response)
    if outcome == "login_required":
        assert status == 302 and location.startswith(reverse(settings.LOGIN_URL)), (status, content[:500])
    elif outcome == "admin_login":
        assert status == 302 and location.startswith(reverse("admin:login")), (status, content[:500])
    elif case.surface == ADMIN:
        shown, marker = case.op.refused, case.op.marker
        assert status == shown, f"expected {outcome}, shown as {shown}; got {status}: {content[:300]}"
        assert marker in content, f"expected {outcome}, shown by {marker!r} on the page"
    else:
        assert status == 403, f"expected {outcome} (403); got {status}: {content[:300]}"
    if case.surface == API:
        assert problem(response)["code"] == outcome


def check_success(case: Case, world: World, response, content: str, before, after) -> None:
    caller = CALLERS[case.caller]
    status, _ = first_hop(case, response)
    ok = case.op.ok
    assert status == ok, f"expected success ({ok}); got {status}: {content[:300]}"
    if case.op.kind == READ and case.surface == API:
        assert response.json()["code"] == "key_not_recoverable"
    values = set(crypto.KEY_PATTERN.findall(content))
    (keys_before, limits_before), (keys_after, limits_after) = before, after
    new = keys_after.keys() - keys_before.keys()
    touched = {pk for pk in keys_before if keys_before[pk] != keys_after.get(pk)
               or limits_before.get(pk) != limits_after.get(pk)}
    if case.op.effect == "created":
        assert len(new) == 1 and not touched, changes(before, after)
        key = keys_after[new.pop()]
        [raw] = values  # the new value, shown once, to the one who may have it
        assert crypto.hash_key(raw) == key["key_hash"] and key["owner_id"] == world.target_user.pk
        by_key_default = case.op.grants == GRANTS_CALLERS and caller.by_key
        assert key["scopes"] == (list(caller.scopes) if by_key_default else [ALL])
        assert _limit(limits_after.get(key["id"])) == (CALLER_LIMIT if caller.limited else None)
        assert key["expires_at"] == (world.later - LATER if caller.by_key else None)  # it expires with its maker
        return
    assert not new and touched <= {world.target_key.pk}, changes(before, after)
    key, limit = keys_after[world.target_key.pk], limits_after.get(world.target_key.pk)
    if case.op.effect == "regenerated":
        [raw] = values
        assert crypto.hash_key(raw) == key["key_hash"] != keys_before[world.target_key.pk]["key_hash"]
        return
    assert not values, "a key value in a response that hands out none"
    if case.op.effect:
        assert EFFECTS[case.op.effect](key, limit, world), (case.op.effect, key, limit)


# ---------------------------------------------------------------------------------------------

def test_every_key_route_and_method_is_classified(client):
    """A route or method added under /api/v1/, the key pages or ApiKeyAdmin must be put in a
    table above, with the ops it performs, before it can ship."""
    found, unclassified = set(), []
    for route in routes():
        for method in route.methods(client):
            found.add((route.surface, route.key, method))
            if (route.key, method) not in ROUTE_TABLES[route.surface]:
                unclassified.append(f"{method} /{route.path} ({route.key})")
    assert not unclassified, "classify these routes in test_grant_matrix.py: " + "; ".join(unclassified)
    stale = {(surface, key, method) for surface, table in ROUTE_TABLES.items() for key, method in table} - found
    assert not stale, f"routes gone from the URLconf, drop them from the tables: {sorted(stale)}"
    assert {(s, r) for s, r, _ in found} >= {(API, "api-key-regenerate"), (DASHBOARD, "dashboard:key-regenerate"),
                                             (ADMIN, "admin:keys_apikey_change")}


def test_every_admin_action_and_inline_is_classified(rf, owner):
    unclassified = [name for name in admin_action_names() if name not in ADMIN_ACTIONS]
    assert not unclassified, f"classify these admin actions in ADMIN_ACTIONS: {unclassified}"
    request = rf.post("/admin/keys/apikey/")
    request.user = owner
    offered = set(admin.site._registry[ApiKey].get_actions(request))
    assert offered == {"revoke_selected", "extend_expiry"}, offered
    inlines = {inline.model for inline in ApiKeyAdmin.inlines}
    assert inlines == set(ADMIN_INLINES), f"classify the inlines of ApiKeyAdmin in ADMIN_INLINES: {inlines}"
    change_ops = ADMIN_ROUTES[("admin:keys_apikey_change", "POST")]
    assert all(op in change_ops for ops in ADMIN_INLINES.values() for op in ops)
    assert {case.surface for case in CASES} == {API, DASHBOARD, ADMIN}


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_grant_matrix(case):
    caller = CALLERS[case.caller]
    world = build(caller, case.target)
    before = stored()
    response = perform(case, world)
    after = stored()
    content = response.content.decode()
    outcome = grant_rule(case.surface, case.op, caller, case.target)
    if outcome is None:
        check_success(case, world, response, content, before, after)
    else:
        status = first_hop(case, response)[0]
        changed = changes(before, after)
        assert not changed, f"expected {outcome}; got {status} and the request changed {changed}: {content[:200]}"
        assert not crypto.KEY_PATTERN.search(content), f"expected {outcome}, but the response holds a key value"
        check_refusal(case, outcome, response, content)


def test_members_cannot_sign_in_to_django_admin(company):
    alice = member(company, MEMBER, username="alice")
    response = Client().post(reverse("admin:login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 200 and "company admin or owner" in response.content.decode()
    assert "_auth_user_id" not in response.wsgi_request.session
    signed_in = Client()
    signed_in.force_login(alice)
    assert signed_in.get("/admin/").status_code == 302


@pytest.mark.parametrize("caller", CALLERS)
def test_leak_reports_take_no_caller(caller, settings):
    """POST /api/v1/leaks changes keys for a secret scanner, proven by its signature; no
    person or key gets in with their own credentials."""
    settings.LEAK_REPORT_SECRET = "scanner-secret"
    world = build(CALLERS[caller], "member")
    _, leaked = make_key(world.target_user, name="Leaked", expires_at=world.later)
    before = stored()
    client = key_client(world.caller_raw) if CALLERS[caller].by_key else session_client(world.me)
    response = client.post("/api/v1/leaks", [{"token": leaked}], format="json")
    assert response.status_code == 401 and response.json()["code"] == "invalid_signature", response.content
    assert stored() == before


def test_the_grace_value_still_reads_and_calls_product_routes():
    world = build(CALLERS["grace-value"], THIS_KEY)
    client = key_client(world.caller_raw)
    assert client.get(f"/api/v1/api-keys/{world.target_key.pk}").status_code == 200
    assert client.post("/api/v1/demo/report", {"title": "still works"}, format="json").status_code == 200


def test_a_limited_key_cannot_shed_the_limit_of_a_key_it_made():
    """The chain the matrix's limited-key/remove-limit cases stop: the key it creates inherits
    its limit, so removing that limit would hand the limited key an unlimited value."""
    world = build(CALLERS["limited-key"], THIS_KEY)
    client = key_client(world.caller_raw)
    made = client.post("/api/v1/api-keys", {"name": "Inherits the limit"}, format="json")
    assert made.status_code == 201 and KeyLimit.objects.filter(api_key_id=made.json()["id"]).exists()
    shed = client.delete(f"/api/v1/api-keys/{made.json()['id']}/limits")
    assert shed.status_code == 403 and shed.json()["code"] == "limit_not_allowed", shed.content
    assert KeyLimit.objects.filter(api_key_id=made.json()["id"]).exists()
