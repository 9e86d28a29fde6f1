"""Part 2: every URL pattern of the project × every kind of caller, the status each must get,
and that no successful answer ever carries a row of another company.

The routes come from the URLconf itself, so a new route without an entry in CALLS fails
test_every_route_has_an_entry. Keyed callers are alice's keys (plus one of the other
company); the object acted on is always another key of alice, in Acme.
"""
from datetime import timedelta
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Membership
from audit.models import AuditEvent
from keys.models import ApiKey
from keys.services import api_key_revoke
from keys.tasks import expiry_notices_send
from tests.clients import key_client, problem, session_client
from tests.factories import make_key
from usage.log_writes import write
from usage.models import RequestLog

pytestmark = [pytest.mark.verify, pytest.mark.django_db]
PART = "2 isolation"

CALLERS = ["anonymous", "key_owner", "colleague", "admin", "owner", "other_admin", "other_key",
           "owner_key", "revoked_key", "expired_key", "test_key", "unscoped_key"]


def url_patterns(patterns=None, prefix=""):
    """Every (route, name) of the URLconf, nested includes flattened."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from url_patterns(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


# route -> [(method, path with {placeholders}, body)]. Objects: {key} alice's key, {user} alice,
# {company}, {membership}, {event}, {log}, {group}, {ct} the ApiKey content type.
K = "settings/advanced/api-keys/"
A = "admin/"
CALLS = {
    "": [("get", "/", None)],
    "healthz": [("get", "/healthz", None)],
    "readyz": [("get", "/readyz", None)],
    "metrics": [("get", "/metrics", None)],  # off (404) until METRICS_TOKEN or METRICS_ALLOWED_IPS is set
    "accounts/login/": [("get", "/accounts/login/", None)],
    "accounts/logout/": [("post", "/accounts/logout/", None)],
    "settings/": [("get", "/settings/", None)],
    "settings/general/": [("get", "/settings/general/", None)],
    "settings/general/key-policy/": [("post", "/settings/general/key-policy/", {"unused_key_days": "30"})],
    K + "legacy-notice/dismiss/": [("post", f"/{K}legacy-notice/dismiss/", {})],
    K + "<uuid:key_id>/restrictions/": [("post", f"/{K}{{key}}/restrictions/", {"allowed_ips": "10.0.0.0/8"})],
    "settings/company/": [("post", "/settings/company/", {"company": "{company}"})],
    K: [("get", f"/{K}", None)],
    K + "new/": [("get", f"/{K}new/", None), ("post", f"/{K}new/", {"name": "From the form", "mode": "live"})],
    K + "company/": [("get", f"/{K}company/", None)],
    K + "<uuid:key_id>/": [("get", f"/{K}{{key}}/", None)],
    K + "<uuid:key_id>/rename/": [("post", f"/{K}{{key}}/rename/", {"name": "Renamed"})],
    K + "<uuid:key_id>/name/": [("post", f"/{K}{{key}}/name/", {"name": "Renamed"})],
    K + "<uuid:key_id>/expiry/": [
        ("post", f"/{K}{{key}}/expiry/", {"expires_on": "2030-01-31", "expires_time": "12:00"}),
    ],
    K + "<uuid:key_id>/revoke/": [("post", f"/{K}{{key}}/revoke/", {})],
    K + "<uuid:key_id>/regenerate/": [("post", f"/{K}{{key}}/regenerate/", {})],
    K + "<uuid:key_id>/limits/": [("post", f"/{K}{{key}}/limits/", {"request_limit": "10", "reset_period": "daily"})],
    K + "<uuid:key_id>/limits/remove/": [("post", f"/{K}{{key}}/limits/remove/", {})],
    A: [("get", "/admin/", None)],
    A + "login/": [("get", "/admin/login/", None)],
    A + "logout/": [("post", "/admin/logout/", None)],
    A + "password_change/": [("get", "/admin/password_change/", None)],
    A + "password_change/done/": [("get", "/admin/password_change/done/", None)],
    A + "autocomplete/": [("get", "/admin/autocomplete/?app_label=keys&model_name=apikey&field_name=api_key", None)],
    A + "jsi18n/": [("get", "/admin/jsi18n/", None)],
    A + "r/<path:content_type_id>/<path:object_id>/": [("get", "/admin/r/{ct}/{key}/", None)],
    A + "^(?P<app_label>auth|django_tasks_database|accounts|axes|keys|usage)/$": [
        ("get", "/admin/keys/", None),
        ("get", "/admin/axes/", None),
    ],
    A + "(?P<url>.*)$": [("get", "/admin/no-such-page/", None)],
    A + "auth/user/<id>/password/": [("get", "/admin/auth/user/{user}/password/", None)],
    "api/v1/me": [("get", "/api/v1/me", None)],
    "api/v1/company/policy": [
        ("get", "/api/v1/company/policy", None),
        (
            "put",
            "/api/v1/company/policy",
            {"max_key_lifetime_days": None, "require_key_expiry": False, "unused_key_days": 30},
        ),
    ],
    "api/v1/users/<int:user_id>/api-keys": [
        ("get", "/api/v1/users/{user}/api-keys", None),
        ("post", "/api/v1/users/{user}/api-keys", {"name": "New"}),
    ],
    "api/v1/users/<int:user_id>/api-keys/<uuid:key_id>/revoke": [
        ("post", "/api/v1/users/{user}/api-keys/{key}/revoke", None)
    ],
    "api/v1/api-keys": [
        ("get", "/api/v1/api-keys", None),
        ("get", "/api/v1/api-keys?scope=company", None),
        ("get", "/api/v1/api-keys?user={user}", None),
        ("post", "/api/v1/api-keys", {"name": "New"}),
    ],
    "api/v1/api-keys/legacy-status": [("get", "/api/v1/api-keys/legacy-status", None)],
    "api/v1/api-keys/legacy-notice-shown": [("post", "/api/v1/api-keys/legacy-notice-shown", None)],
    "api/v1/api-keys/<uuid:key_id>": [
        ("get", "/api/v1/api-keys/{key}", None),
        ("patch", "/api/v1/api-keys/{key}", {"name": "Renamed"}),
        ("delete", "/api/v1/api-keys/{key}", None),
    ],
    "api/v1/api-keys/<uuid:key_id>/regenerate": [("post", "/api/v1/api-keys/{key}/regenerate", None)],
    "api/v1/api-keys/<uuid:key_id>/decrypt": [("get", "/api/v1/api-keys/{key}/decrypt", None)],
    "api/v1/api-keys/<uuid:key_id>/restrictions": [
        ("get", "/api/v1/api-keys/{key}/restrictions", None),
        ("put", "/api/v1/api-keys/{key}/restrictions", {"allowed_ips": ["10.0.0.0/8"]}),
    ],
    "api/v1/leaks": [("post", "/api/v1/leaks", [{"token": "sk_live_x", "type": "keyhouse"}])],
    "api/v1/audit-events": [("get", "/api/v1/audit-events", None)],
    "api/v1/api-keys/<uuid:key_id>/limits": [
        ("get", "/api/v1/api-keys/{key}/limits", None),
        ("put", "/api/v1/api-keys/{key}/limits", {"request_limit": 50, "reset_period": "daily"}),
        ("delete", "/api/v1/api-keys/{key}/limits", None),
    ],
    "api/v1/api-keys/<uuid:key_id>/usage": [("get", "/api/v1/api-keys/{key}/usage", None)],
    "api/v1/api-keys/<uuid:key_id>/usage/by-tier": [("get", "/api/v1/api-keys/{key}/usage/by-tier", None)],
    "api/v1/api-keys/<uuid:key_id>/usage/errors": [("get", "/api/v1/api-keys/{key}/usage/errors", None)],
    "api/v1/api-keys/<uuid:key_id>/usage/requests": [("get", "/api/v1/api-keys/{key}/usage/requests", None)],
    "api/v1/api-keys/<uuid:key_id>/usage/timeseries": [("get", "/api/v1/api-keys/{key}/usage/timeseries", None)],
    "api/v1/usage": [("get", "/api/v1/usage", None)],
    "api/v1/usage/timeseries": [("get", "/api/v1/usage/timeseries", None)],
    "api/v1/demo/echo": [("get", "/api/v1/demo/echo?q=1", None)],
    "api/v1/demo/report": [("post", "/api/v1/demo/report", {"title": "Quarterly numbers"})],
    "api/problems/<slug:code>": [("get", "/api/problems/invalid_api_key", None)],
    "api/schema/": [("get", "/api/schema/", None)],
    "api/docs/": [("get", "/api/docs/", None)],
    "api/redoc/": [("get", "/api/redoc/", None)],
}
# Django admin: every registered model has the same five URL shapes; a model registered later
# without an entry here fails the completeness test like any other route.
ADMIN_MODELS = {"auth/group": "{group}", "accounts/company": "{company}", "accounts/membership": "{membership}",
                "auth/user": "{user}", "keys/apikey": "{key}", "keys/auditevent": "{event}",
                "usage/requestlog": "{log}", "django_tasks_database/dbtaskresult": "{task}",
                "axes/accessattempt": "{attempt}"}
for _model, _object in ADMIN_MODELS.items():
    CALLS[f"{A}{_model}/"] = [("get", f"/admin/{_model}/", None)]
    CALLS[f"{A}{_model}/add/"] = [("get", f"/admin/{_model}/add/", None)]
    for _suffix in ("history/", "delete/", "change/", ""):
        CALLS[f"{A}{_model}/<path:object_id>/{_suffix}"] = [("get", f"/admin/{_model}/{_object}/{_suffix}", None)]


# The expected status of each call for each caller: a table of its own, a row per call.
EXPECTED = Path(__file__).with_name("isolation_expected.txt")
EXPECT = {}
for _line in EXPECTED.read_text(encoding="utf-8").splitlines():
    if not _line.strip() or _line.startswith("#"):
        continue
    _method, _path, *_codes = _line.split()
    assert len(_codes) == len(CALLERS), _line
    EXPECT[(_method.lower(), _path)] = dict(zip(CALLERS, map(int, _codes), strict=True))


def test_every_route_has_an_entry(figures):
    figures.fact(PART, "routes x callers", f"{len(set(url_patterns()))} x {len(CALLERS)}")
    figures.fact(PART, "calls x callers", f"{len(CASES)} x {len(CALLERS)}")
    missing = [route for route in url_patterns() if route not in CALLS]
    assert not missing, f"Add these routes to CALLS in {__file__} and to {EXPECTED}: {missing}"
    without_expectation = [(m, p) for _, m, p, _ in CASES if (m, p) not in EXPECT]
    assert not without_expectation, f"Add these calls to {EXPECTED}: {without_expectation}"


@pytest.fixture
def world(settings, company, other_company, alice, bob, admin, owner, outsider_admin):
    """The people of tests/conftest.py: in Acme members alice and bob, admin adam and owner
    olivia; in Globex, admin oscar."""
    settings.LEAK_REPORT_SECRET = "isolation-secret"
    acme, globex, oscar = company, other_company, outsider_admin
    target, _ = make_key(alice, name="acme-row")
    _, alice_live = make_key(alice, name="alice live")
    revoked, revoked_raw = make_key(alice, name="alice revoked")
    api_key_revoke(api_key=revoked, actor_user=alice)
    expired, expired_raw = make_key(alice, name="alice expired", expires_at=timezone.now() + timedelta(days=1))
    ApiKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    _, test_raw = make_key(alice, name="alice test", mode="test")
    _, unscoped_raw = make_key(alice, name="alice unscoped", scopes=["usage:read"])
    globex_key, oscar_raw = make_key(oscar, name="globex-row")
    now = timezone.now()
    write([RequestLog(api_key=key, company_id=key.company_id, user_id=key.owner_id, created_at=now, method="GET",
                      path="/api/v1/me", route="api/v1/me", status_code=200, latency_ms=1, tier="free")
           for key in (target, globex_key)])
    group = Group.objects.create(name="verify group")
    attempt = AccessAttempt.objects.create(username="oscar", ip_address="192.0.2.1", failures_since_start=1,
                                           attempt_time=now, get_data="", post_data="")
    ids = {"key": target.pk, "user": alice.pk, "company": acme.pk, "group": group.pk,
           "membership": Membership.objects.get(user=alice).pk,
           "event": AuditEvent.objects.filter(company=acme).first().pk,
           "log": RequestLog.objects.get(api_key=target).pk, "attempt": attempt.pk,
           "ct": ContentType.objects.get_for_model(ApiKey).pk, "task": expiry_notices_send.enqueue().id}
    clients = {
        "anonymous": APIClient(), "key_owner": session_client(alice), "colleague": session_client(bob),
        "admin": session_client(admin), "owner": session_client(owner), "other_admin": session_client(oscar),
        "other_key": key_client(oscar_raw, "X-API-Key"), "owner_key": key_client(alice_live),
        "revoked_key": key_client(revoked_raw, "Authorization"), "expired_key": key_client(expired_raw),
        "test_key": key_client(test_raw), "unscoped_key": key_client(unscoped_raw),
    }
    # What must never appear in an answer to the other company.
    markers = {acme.pk: ["Globex", "globex-row", "oscar", str(globex_key.pk), globex_key.prefix],
               globex.pk: ["Acme", "acme-row", "alice", "olivia", str(target.pk), target.prefix]}
    company_of = {c: (globex.pk if c in ("other_admin", "other_key") else acme.pk) for c in CALLERS}
    return {"ids": ids, "clients": clients, "markers": markers, "company_of": company_of, "target": target}


def snapshot():
    return sorted(map(str, ApiKey.objects.values_list("id", "name", "key_hash", "revoked_at", "scopes",
                                                    "allowed_ips")))


# Routes of work in progress elsewhere may not be mounted yet; only mounted ones are called.
CASES = [(route, method, path, body) for route, calls in CALLS.items() if route in set(url_patterns())
         for method, path, body in calls]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route, method, path, body", CASES, ids=[f"{m.upper()} {p}" for _, m, p, _ in CASES])
def test_route_by_caller(route, method, path, body, caller, world, figures):
    ids = world["ids"]
    url = path.format(**ids)
    if isinstance(body, dict):
        body = {k: (v.format(**ids) if isinstance(v, str) else v) for k, v in body.items()}
    client = world["clients"][caller]
    before = snapshot()
    is_api = url.startswith("/api/v1/")
    send = getattr(client, method)
    response = send(url, body, format="json") if is_api else send(url, body or {})
    figures.sent(PART)
    expected = EXPECT[(method, path)][caller]
    assert response.status_code == expected, (caller, url, response.status_code, response.content[:300])

    if url.startswith("/api/") and response.status_code >= 400:
        problem(response)
    if response.status_code >= 400 or "login" in response.get("Location", ""):
        assert snapshot() == before, "a refused request changed the keys"
    if response.status_code < 300 and not url.startswith(
        ("/api/problems/", "/api/schema/", "/api/docs/", "/api/redoc/")
    ):
        text = response.content.decode("utf-8", "replace")
        leaked = [m for m in world["markers"][world["company_of"][caller]] if m in text]
        assert not leaked, f"{caller} saw another company's {leaked} at {url}"
