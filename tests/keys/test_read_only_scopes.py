"""A key with read scopes only never changes state: every unsafe method of every keyed API
route refuses it with 403 scope_not_allowed, whatever scope the view declares, and the
database is as it was. The routes come from the URLconf, so a new one is covered at once."""
import re

import pytest
from django.apps import apps
from django.urls import URLResolver, get_resolver
from rest_framework.views import APIView

from accounts.models import Membership, Role
from audit.models import AuditAction, AuditEvent
from keys.authentication import ApiKeyAuthentication
from keys.leak_apis import LeakReportApi
from keys.models import ApiKey
from keys.restrictions import ALL_SCOPES, SAFE_METHODS, needed_scope
from tests.clients import key_client, problem
from tests.factories import make_key, member
from usage.models import DailyRollup, RequestLog, UsageRollup

pytestmark = pytest.mark.django_db

READ_SCOPES = ["keys:read", "usage:read", "audit:read"]
UNSAFE_METHODS = ("post", "put", "patch", "delete")
# Views that take no key at all (the scanner signs its leak reports instead): named here, so
# that a route opening without keys is a decision someone wrote down.
UNKEYED_VIEWS = {LeakReportApi}
# Recorded for every request, refused ones too, by design: the request log and its rollups.
REQUEST_RECORDS = {RequestLog, UsageRollup, DailyRollup}


def _api_routes(patterns=None, prefix=""):
    """(route, APIView subclass) for every view under /api/v1/."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _api_routes(entry.url_patterns, route)
        elif route.startswith("api/v1/"):
            view = getattr(entry.callback, "view_class", None)
            if view is not None and issubclass(view, APIView):
                yield route, view


def _keyed(view) -> bool:
    return any(issubclass(cls, ApiKeyAuthentication) for cls in view.authentication_classes)


WRITES = sorted((route, view, method) for route, view in _api_routes() if _keyed(view)
                for method in UNSAFE_METHODS if hasattr(view, method))


def test_the_walk_finds_the_writes_and_every_unkeyed_view_is_named():
    unkeyed = {view for _, view in _api_routes() if not _keyed(view)}
    assert unkeyed == UNKEYED_VIEWS
    assert len(WRITES) >= 10
    assert ("api/v1/api-keys/legacy-notice-shown", "post") in {(route, method) for route, _, method in WRITES}


def _state() -> dict:
    """Every row of every model, except what any request records: the request log, the refusal
    this test provokes (audited on purpose) and a key's last use."""
    state = {}
    for model in apps.get_models():
        if model in REQUEST_RECORDS:
            continue
        rows = model._default_manager.order_by("pk")
        if model is AuditEvent:
            rows = rows.exclude(action=AuditAction.KEY_REFUSED_BY_RESTRICTION)
        state[model._meta.label] = [{k: v for k, v in row.items() if not (model is ApiKey and k == "last_used_at")}
                                    for row in rows.values()]
    return state


@pytest.fixture
def reader(company):
    """An owner, who may do everything by role, holding a key that may only read; the other
    key is what the writes would change if they got through."""
    olivia = member(company, Role.OWNER, username="olivia")
    member(company, Role.OWNER, username="otto")
    target, _ = make_key(olivia, name="Production")
    _, raw = make_key(olivia, name="Read-only dashboard", scopes=READ_SCOPES)
    return olivia, target, raw


def _url(route: str, user, key) -> str:
    values = {"int:user_id": user.pk, "uuid:key_id": key.pk}
    url = re.sub(r"<([^>]+)>", lambda m: str(values[m[1]]), route)
    return "/" + url


@pytest.mark.parametrize("route, view, method", WRITES, ids=[f"{m.upper()} /{r}" for r, _, m in WRITES])
def test_a_read_only_key_changes_nothing(route, view, method, reader):
    user, target, raw = reader
    before = _state()
    response = getattr(key_client(raw), method)(_url(route, user, target), {}, format="json")
    assert response.status_code == 403, response.content
    error = problem(response)
    assert error["code"] == "scope_not_allowed"
    assert sorted(error["scopes"]) == sorted(READ_SCOPES)
    assert _state() == before


def test_a_read_only_key_cannot_mark_the_legacy_notice_shown(reader):
    user, _, raw = reader
    response = key_client(raw).post("/api/v1/api-keys/legacy-notice-shown")
    assert response.status_code == 403
    assert response.json()["code"] == "scope_not_allowed"
    assert response.json()["required_scope"] == "keys:write"
    assert Membership.objects.get(user=user).legacy_notice_shown_at is None


def test_a_keys_write_key_marks_the_legacy_notice_shown(reader):
    user, _, _ = reader
    _, raw = make_key(user, name="Writer", scopes=["keys:read", "keys:write"])
    assert key_client(raw).post("/api/v1/api-keys/legacy-notice-shown").json() == {"status": "ok"}
    assert Membership.objects.get(user=user).legacy_notice_shown_at is not None
    assert key_client(raw).get("/api/v1/api-keys/legacy-status").status_code == 200


class Declared:
    """A view as needed_scope sees it: only the attributes it declares."""

    def __init__(self, **attributes):
        self.__dict__.update(attributes)


@pytest.mark.parametrize("declared, method, needed", [
    ({"api_scope": "keys"}, "GET", "keys:read"),
    ({"api_scope": "keys"}, "POST", "keys:write"),
    ({"required_scope": "keys:read"}, "GET", "keys:read"),
    ({"required_scope": "keys:read"}, "HEAD", "keys:read"),
    ({"required_scope": "keys:read"}, "POST", "keys:write"),
    ({"required_scope": "usage:read"}, "DELETE", "usage:write"),
    ({"required_scope": "audit:read"}, "PATCH", "audit:write"),
    ({"required_scope": "keys:write"}, "PUT", "keys:write"),
    ({"required_scope": "demo"}, "POST", "demo"),
    ({"required_scope": None}, "GET", None),
    ({"required_scope": None}, "OPTIONS", None),
    ({"required_scope": None}, "POST", ALL_SCOPES),
    ({}, "GET", ALL_SCOPES),
    ({}, "POST", ALL_SCOPES),
])
def test_needed_scope(declared, method, needed):
    assert needed_scope(Declared(**declared), method) == needed


def test_safe_methods_are_the_ones_http_calls_safe():
    assert set(SAFE_METHODS) == {"GET", "HEAD", "OPTIONS"}
