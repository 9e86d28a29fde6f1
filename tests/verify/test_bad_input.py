"""Part 6: hostile input to every write route and header. Each gets a clear 4xx in the error
shape and leaves the database as it was; names that are odd but valid (emoji, HTML) are kept
verbatim and never rendered as markup."""
import json

import pytest
from django.apps import apps

from accounts.models import Role
from tests.clients import key_client, problem, session_client
from tests.factories import make_key, member

pytestmark = [pytest.mark.verify, pytest.mark.django_db]
PART = "6 bad input"
BIG = "x" * 10_240
HUGE = 10**30

# Route -> (method, path, a valid body, {field: kind}).
WRITES = {
    "create key": ("post", "/api/v1/api-keys", {"name": "ok"}, {"name": "str", "mode": "choice", "scopes": "list",
                                                                 "expires_at": "time"}),
    "create key for user": ("post", "/api/v1/users/{user}/api-keys", {"name": "ok"}, {"name": "str",
                                                                                        "expires_at": "time"}),
    "rename key": ("patch", "/api/v1/api-keys/{key}", {"name": "ok"}, {"name": "str", "expires_at": "time"}),
    "regenerate key": ("post", "/api/v1/api-keys/{key}/regenerate", {}, {"grace_period_seconds": "int"}),
    "restrictions": ("put", "/api/v1/api-keys/{key}/restrictions", {}, {"allowed_ips": "list",
                                                                       "allowed_referrers": "list", "scopes": "list"}),
    "limits": ("put", "/api/v1/api-keys/{key}/limits", {"request_limit": 5},
               {"request_limit": "int", "budget_limit_microcents": "int", "reset_period": "choice",
                "enabled": "bool"}),
    "policy": ("put", "/api/v1/company/policy", {"max_key_lifetime_days": None, "require_key_expiry": False,
                                                "unused_key_days": 30},
               {"max_key_lifetime_days": "int", "require_key_expiry": "bool", "unused_key_days": "int"}),
    "demo report": ("post", "/api/v1/demo/report", {"title": "ok"}, {"title": "str"}),
    "leak report": ("post", "/api/v1/leaks", [{"token": "sk_live_x"}], {}),
}
HOSTILE = {
    "str": {"10 KB": BIG, "NUL byte": "a\x00b", "list": ["a"], "object": {"a": 1}, "bool": True, "null": None,
            "blank": "   "},
    "int": {"huge": HUGE, "negative": -1, "text": "12abc", "list": [1], "float": 1.5, "bool-ish text": "yes"},
    "bool": {"text": "maybe", "list": [True], "number": 7},
    "choice": {"unknown": "<script>alert(1)</script>", "NUL byte": "live\x00", "list": ["live"]},
    "time": {"no zone": "2030-01-01T00:00:00", "garbage": "\U0001F511" * 20, "past": "2001-01-01T00:00:00Z",
             "number": 1_900_000_000, "10 KB": BIG},
    "list": {"text": "10.0.0.0/8", "object": {"a": 1}, "nested lists": [["a"]], "10 KB entry": [BIG],
             "NUL entry": ["a\x00"], "1000 entries": [f"10.0.{i // 250}.{i % 250}" for i in range(1000)],
             "markup": ["<img src=x onerror=alert(1)>"]},
}
RAW_BODIES = {
    "invalid UTF-8": b'{"name": "\xff\xfe\xfd"}',
    "deep nesting": b"[" * 100_000 + b"]" * 100_000,
    "deep object nesting": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "3 MB body": json.dumps({"name": "x" * 3_000_000}).encode(),
    "huge number": b'{"name": "ok", "request_limit": ' + b"9" * 5000 + b"}",
    "NaN": b'{"request_limit": NaN, "grace_period_seconds": NaN, "unused_key_days": NaN, "name": NaN}',
    "Infinity": b'{"request_limit": 1e999, "grace_period_seconds": 1e999, "unused_key_days": 1e999, "name": 1e999}',
    "a list": b'[1, 2, 3]',
    "a string": b'"just a string"',
    "truncated": b'{"name": "ok"',
    "unknown field": b'{"name": "ok", "is_admin": true, "owner": 1, "company": 2}',
}


@pytest.fixture
def world(settings, company, other_company, owner, alice):
    """Acme's owner olivia and member alice (tests/conftest.py), and an owner of Globex."""
    settings.LEAK_REPORT_SECRET = "bad-input-secret"
    member(other_company, Role.OWNER, username="oscar")
    target, _ = make_key(alice, name="target")
    _, raw = make_key(owner, name="caller")
    client, session = key_client(raw), session_client(owner)
    # Use both once, so that last_used_at and last_login are already set before any snapshot.
    assert client.get("/api/v1/me").status_code == 200 and session.get("/api/v1/me").status_code == 200
    return {"raw": raw, "client": client, "session": session, "ids": {"key": target.pk, "user": alice.pk},
            "owner": owner}


# What every request writes, refused or not: the log, its rollups, the session and the management
# abuse limit's count (a refused call counts against it too).
SKIPPED_MODELS = ("usage.RequestLog", "usage.UsageRollup", "usage.DailyRollup", "sessions.Session",
                  "usage.ManagementCounter")


def database() -> dict:
    """Every row of every table but the request log (which records refused requests too)."""
    state = {}
    for model in apps.get_models():
        if model._meta.label not in SKIPPED_MODELS:
            state[model._meta.label] = sorted(map(str, model.objects.values_list()))
    return state


def assert_clear_refusal(response, before, allowed=(400, 401, 403, 404, 409, 413, 415)):
    assert response.status_code in allowed, (response.status_code, response.content[:300])
    problem(response)
    assert database() == before, "a refused request changed the database"


FIELD_CASES = [(route, field, label, value) for route, (_, _, _, fields) in WRITES.items()
               for field, kind in fields.items() for label, value in HOSTILE[kind].items()]


@pytest.mark.parametrize("route, field, label, value", FIELD_CASES,
                         ids=[f"{r}.{f}={label}" for r, f, label, _ in FIELD_CASES])
def test_hostile_field(route, field, label, value, world, figures):
    figures.fact(PART, "write routes", len(WRITES))
    method, path, body, _ = WRITES[route]
    body = {**body, field: value}
    before = database()
    response = getattr(world["client"], method)(path.format(**world["ids"]), body, format="json")
    figures.sent(PART)
    assert_clear_refusal(response, before)


RAW_CASES = [(route, label) for route in WRITES for label in RAW_BODIES]


@pytest.mark.parametrize("route, label", RAW_CASES, ids=[f"{r}: {label}" for r, label in RAW_CASES])
def test_hostile_body(route, label, world, figures):
    method, path, _, _ = WRITES[route]
    before = database()
    response = world["client"].generic(method.upper(), path.format(**world["ids"]), RAW_BODIES[label],
                                       content_type="application/json")
    figures.sent(PART)
    assert_clear_refusal(response, before)


@pytest.mark.parametrize("route", WRITES)
def test_wrong_content_type(route, world, figures):
    method, path, body, _ = WRITES[route]
    before = database()
    response = world["client"].generic(method.upper(), path.format(**world["ids"]), "name=ok",
                                       content_type="application/x-www-form-urlencoded")
    figures.sent(PART)
    assert_clear_refusal(response, before)


HEADERS = {
    "10 KB key": {"HTTP_API_KEY": "sk_live_" + BIG},
    "NUL in key": {"HTTP_API_KEY": "sk_live_\x00" + "a" * 37},
    "emoji key": {"HTTP_API_KEY": "sk_live_" + "\U0001F511" * 38},
    "latin-1 bytes of invalid UTF-8": {"HTTP_API_KEY": "sk_live_\xff\xfe" + "a" * 36},
    "markup key": {"HTTP_X_API_KEY": "<script>alert(1)</script>"},
    "empty bearer": {"HTTP_AUTHORIZATION": "Bearer "},
    "two different keys": {"HTTP_API_KEY": "{raw}", "HTTP_X_API_KEY": "sk_live_" + "b" * 38},
    "duplicated header, joined": {"HTTP_API_KEY": "{raw},{raw}"},
    "org id not a number": {"HTTP_API_KEY": "{raw}", "HTTP_X_ORGANIZATION_ID": "abc"},
    "org id huge": {"HTTP_API_KEY": "{raw}", "HTTP_X_ORGANIZATION_ID": str(HUGE)},
    "org id emoji": {"HTTP_API_KEY": "{raw}", "HTTP_X_ORGANIZATION_ID": "\U0001F511"},
    "session, org id huge": {"session": True, "HTTP_X_ORGANIZATION_ID": str(HUGE)},
    "session, org id negative": {"session": True, "HTTP_X_ORGANIZATION_ID": "-1"},
    "session, org id NUL": {"session": True, "HTTP_X_ORGANIZATION_ID": "1\x00"},
}
URLS = {
    "key in the query string": "/api/v1/me?api_key={raw}",
    "key as any parameter": "/api/v1/api-keys?q={raw}",
    "huge user id": "/api/v1/users/" + str(HUGE) + "/api-keys",
    "huge user filter": "/api/v1/api-keys?user=" + str(HUGE),
    "huge page": "/api/v1/api-keys?page=" + str(HUGE),
    "negative page size": "/api/v1/api-keys?page_size=-5",
    "days not a number": "/api/v1/usage?days=1e3",
    "huge days": "/api/v1/usage?days=" + str(HUGE),
    "audit: bad key id": "/api/v1/audit-events?key=not-a-uuid",
    "audit: huge actor": "/api/v1/audit-events?actor=" + str(HUGE),
    "NUL in a filter": "/api/v1/api-keys?status=active%00",
}


@pytest.mark.parametrize("label", HEADERS)
def test_hostile_header(label, world, figures):
    headers = {k: v.format(raw=world["raw"]) for k, v in HEADERS[label].items() if k != "session"}
    client = world["session"] if HEADERS[label].get("session") else key_client(world["raw"])
    if not HEADERS[label].get("session"):
        client.credentials(**headers)
    before = database()
    for method, path, body in (("get", "/api/v1/api-keys", None), ("post", "/api/v1/api-keys", {"name": "n"})):
        response = getattr(client, method)(path, body, format="json", **(headers if client.session else {}))
        figures.sent(PART)
        assert_clear_refusal(response, before)


@pytest.mark.parametrize("label", URLS)
def test_hostile_url(label, world, figures):
    before = database()
    for client in (world["client"], world["session"]):
        response = client.get(URLS[label].format(raw=world["raw"]))
        figures.sent(PART)
        if response.status_code == 200:  # pages past the end are empty, not an error (core.pagination)
            assert label == "huge page" and response.json()["items"] == []
            continue
        assert_clear_refusal(response, before)


@pytest.mark.parametrize("name", ["\U0001F511 Production \u2014 \u00e9t\u00e9", "<script>alert(1)</script>",
                                  "\"'><img src=x onerror=alert(1)>"])
def test_odd_but_valid_names_are_kept_verbatim_and_escaped(name, world, figures):
    created = world["client"].post("/api/v1/api-keys", {"name": name}, format="json")
    figures.sent(PART, 3)
    assert created.status_code == 201 and created.json()["name"] == name
    page = world["session"].get("/settings/advanced/api-keys/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<script>alert(1)</script>" not in html and "<img src=x" not in html
    listed = world["client"].get("/api/v1/api-keys").json()["items"]
    assert name in [k["name"] for k in listed]


@pytest.mark.parametrize("name", ["abc\u202egnp.exe", "zero\u200bwidth", "bell\x07"])
def test_names_that_would_show_something_else_are_refused(name, world, figures):
    """A bidi override shows "abc\u202egnp.exe" as "abcexe.png"; zero-width and control
    characters hide what a name is. Refused with the field named, and nothing made."""
    before = database()
    refused = world["client"].post("/api/v1/api-keys", {"name": name}, format="json")
    figures.sent(PART)
    assert_clear_refusal(refused, before, allowed=(400,))
    assert [e.get("pointer") for e in refused.json()["errors"]] == ["/name"]
