"""Hostile input that used to crash a view or be misread: each is a 4xx in
the error shape, with a code a script can branch on, and the database is left as it was.

Python reads more as a number than a client means: int() takes '٢', '２', '+2', ' 2' and '1_0',
and str.isdigit() passes '²', which int() then refuses with an exception. Numbers in query
parameters and headers are read by core.parsing.ascii_int only. A signature header is
compared as bytes, since hmac.compare_digest raises on a non-ASCII str. A time has ASCII
digits, an offset under 24 hours and a year in range, so it never overflows."""
from datetime import UTC, datetime

import pytest
from django.apps import apps
from django.test import Client

from keys.models import ApiKey
from tests.clients import key_client, named_inputs, problem, session_client
from tests.factories import make_key
from web.key_views import PAGE_SIZE as COMPANY_PAGE_SIZE

pytestmark = pytest.mark.django_db

LEAK_BODY = [{"token": "sk_live_x"}]
# Route of a number -> the code its refusal carries (and the detail it names).
DAYS = ("invalid_days", "days")
USER = ("validation_error", "user")
PAGE = ("invalid_pagination", "page")
PAGE_SIZE = ("invalid_pagination", "page_size")
ORG = ("invalid_organization", "X-Organization-Id")
ACTOR = ("validation_error", "actor")
EXPIRES = ("validation_error", "expires_at")
SINCE = ("validation_error", "since")

# What a client never means as a number, though Python reads it as one or crashes on it.
NOT_NUMBERS = {"²": "superscript two", "٣٠": "Arabic-Indic 30", "７": "fullwidth 7", "%2B2": "+2",
               "%202": "leading space", "1_0": "underscore"}
# A query that ends in a number -> the code of its refusal and the parameter that names.
NUMBER_QUERIES = {
    "/api/v1/usage?days=": DAYS, "/api/v1/usage/timeseries?days=": DAYS, "/api/v1/api-keys/{key}/usage?days=": DAYS,
    "/api/v1/api-keys/{key}/usage/timeseries?days=": DAYS, "/api/v1/api-keys/{key}/usage/requests?days=": DAYS,
    "/api/v1/api-keys?user=": USER, "/api/v1/api-keys?page=": PAGE, "/api/v1/api-keys?page_size=": PAGE_SIZE,
    "/api/v1/audit-events?page=": PAGE, "/api/v1/audit-events?actor=": ACTOR,
}
NOT_COMPANY_IDS = ["+{company}", " {company}", "{company} ", "٢", "1_0"]

# label -> (method, path, JSON body, headers, status, (code, field named in details or None))
NUMBERS = {
    f"{query}{spelling} ({name})": ("get", query + spelling, None, {}, 400, refusal)
    for query, refusal in NUMBER_QUERIES.items() for spelling, name in NOT_NUMBERS.items()
} | {
    f"org header: {value!r}": ("get", "/api/v1/api-keys", None, {"HTTP_X_ORGANIZATION_ID": value}, 400, ORG)
    for value in NOT_COMPANY_IDS
} | {
    "key list: user= an existing id in Arabic-Indic digits": ("get", "/api/v1/api-keys?user={user_unicode}", None,
                                                             {}, 400, USER),
    "key list: page of 20 digits": ("get", "/api/v1/api-keys?page=" + "9" * 20, None, {}, 400, PAGE),
    "org header on a write: +id": ("post", "/api/v1/api-keys", {"name": "n"},
                                   {"HTTP_X_ORGANIZATION_ID": "+{company}"}, 400, ORG),
}
LEAKS = {
    "leak: non-ASCII signature": ("post", "/api/v1/leaks", LEAK_BODY, {"HTTP_KEYHOUSE_SIGNATURE": "sha256=é"},
                                  401, ("invalid_signature", None)),
    "leak: signature of 64 non-ASCII hex": ("post", "/api/v1/leaks", LEAK_BODY,
                                            {"HTTP_KEYHOUSE_SIGNATURE": "sha256=" + "é" * 64}, 401,
                                            ("invalid_signature", None)),
    "leak: emoji signature": ("post", "/api/v1/leaks", LEAK_BODY, {"HTTP_KEYHOUSE_SIGNATURE": "\U0001F511"}, 401,
                              ("invalid_signature", None)),
}
HOSTILE_TIMES = {
    "offset +99:00": "2030-01-01T00:00:00+99:00",
    "offset -25:00": "2030-01-01T00:00:00-25:00",
    "offset +24:00": "2030-01-01T00:00:00+24:00",
    "offset +05:99": "2030-01-01T00:00:00+05:99",
    "offset +99 (hours only)": "2030-01-01T00:00:00+99",
    "year 9999, west of UTC (past year 9999 in UTC)": "9999-12-31T23:59:59-23:59",
    "year 1, east of UTC (before year 1 in UTC)": "0001-01-01T00:00:00+01:00",
    "fullwidth digits": "２０３０-01-01T00:00:00Z",
    "Arabic-Indic digits": "٢٠٣٠-01-01T00:00:00Z",
    "30 February": "2030-02-30T00:00:00Z",
    "25 o'clock": "2030-01-01T25:00:00Z",
}
TIMES = {}
for label, value in HOSTILE_TIMES.items():
    TIMES[f"create key: expires_at {label}"] = ("post", "/api/v1/api-keys", {"name": "n", "expires_at": value}, {},
                                                400, EXPIRES)
    TIMES[f"update key: expires_at {label}"] = ("patch", "/api/v1/api-keys/{key}", {"expires_at": value}, {},
                                                400, EXPIRES)
    TIMES[f"audit: since {label}"] = ("get", "/api/v1/audit-events", {"since": value}, {}, 400, SINCE)
CASES = {**NUMBERS, **LEAKS, **TIMES}

SKIPPED_MODELS = ("usage.RequestLog", "usage.UsageRollup", "usage.DailyRollup", "sessions.Session")


def database() -> dict:
    """Every row of every table but the request log (which records refused requests too)."""
    return {model._meta.label: sorted(map(str, model.objects.values_list())) for model in apps.get_models()
            if model._meta.label not in SKIPPED_MODELS}


@pytest.fixture
def world(settings, owner, company, alice_key):
    settings.LEAK_REPORT_SECRET = "hostile-input-secret"
    client = session_client(owner)
    client.raise_request_exception = False  # a crash is a 500 to assert on, not an exception in the test
    assert client.get("/api/v1/me").status_code == 200  # last_login is set before any snapshot
    names = {"key": alice_key[0].pk, "company": company.pk, "other": company.pk + 1,
             "user_unicode": "".join(chr(0x660 + int(d)) for d in str(owner.pk))}
    return client, names


@pytest.mark.parametrize("label", CASES)
def test_hostile_input_is_a_clear_refusal(label, world):
    client, names = world
    method, path, body, headers, status, (code, field) = CASES[label]
    headers = {name: value.format(**names) for name, value in headers.items()}
    before = database()
    if method == "get":
        response = client.get(path.format(**names), body, **headers)
    else:
        response = getattr(client, method)(path.format(**names), body, format="json", **headers)
    assert response.status_code == status, (response.status_code, response.content[:300])
    error = problem(response)
    assert error["code"] == code, error
    if field:
        assert field in named_inputs(error) and field in error["detail"], error
    assert database() == before, "a refused request changed the database"


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("key_in", ["header", "session"])
def test_too_many_query_parameters_is_a_400_problem_with_debug_on_or_off(debug, key_in, world, alice_key, settings):
    """`make run` serves with DEBUG on: there too, 1,001 parameters are a clear 400 naming the
    limit, not a crash in DRF's debug path."""
    settings.DEBUG = debug
    client = world[0] if key_in == "session" else key_client(alice_key[1])
    client.raise_request_exception = False
    query = "&".join(f"p{n}=1" for n in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    before = database()
    response = client.get("/api/v1/usage?" + query)
    assert response.status_code == 400, (response.status_code, response.content[:300])
    error = problem(response)
    assert error["code"] == "bad_request" and "send at most 1,000" in error["detail"], error
    assert database() == before


@pytest.mark.parametrize("header, status", [("{company}", 200), ("0{company}", 200), ("{other}", 404)])
def test_an_organization_id_in_ascii_digits_is_still_read(header, status, world):
    client, names = world
    response = client.get("/api/v1/api-keys", HTTP_X_ORGANIZATION_ID=header.format(**names))
    assert response.status_code == status, response.content


@pytest.fixture
def browser(owner):
    client = Client(raise_request_exception=False)
    client.force_login(owner)
    return client


def test_dashboard_reads_only_ascii_page_numbers(browser, owner):
    """A page number that is not one shows the first page, as Paginator.get_page does for 'x'."""
    for n in range(COMPANY_PAGE_SIZE + 1):
        make_key(owner, name=f"k{n}")
    for query, shown in (("page=2", "page 2 of 2"), ("page=٢", "page 1 of 2"), ("page=%2B2", "page 1 of 2")):
        page = browser.get(f"/settings/advanced/api-keys/company/?{query}")
        assert page.status_code == 200 and shown in page.content.decode(), query


@pytest.mark.parametrize("value", ["2030-01-01T00:00:00+23:59", "2030-01-01T00:00:00-05:30", "2030-01-01T00:00:00Z",
                                   "9999-12-31T23:59:59Z"])
def test_times_at_the_edges_of_what_is_allowed_are_accepted(value, world):
    client, _ = world
    response = client.post("/api/v1/api-keys", {"name": "edge", "expires_at": value}, format="json")
    assert response.status_code == 201, response.content
    assert datetime.fromisoformat(response.json()["expires_at"]) == datetime.fromisoformat(value)


DATE_HIERARCHY = ["created_at__year=9999", "created_at__year=9999&created_at__month=12",
                  "created_at__year=9999&created_at__month=12&created_at__day=31",
                  "created_at__year=²", "created_at__year=٢٠٢٦", "created_at__year=2026&created_at__month=13"]


@pytest.mark.parametrize("changelist", ["/admin/keys/auditevent/", "/admin/usage/requestlog/"])
@pytest.mark.parametrize("query", DATE_HIERARCHY)
def test_admin_date_drilldown_with_a_bad_date_is_the_bad_filter_page(changelist, query, browser):
    """Django admin answers a bad filter with a redirect to ?e=1; its date drill-down used to
    add a day, a month or a year to 9999 and crash."""
    response = browser.get(f"{changelist}?{query}")
    assert response.status_code == 302 and response["Location"].endswith("?e=1"), response.status_code


def test_admin_extends_a_key_expiring_at_the_end_of_time_no_further(browser, alice_key):
    key, _ = alice_key
    last = datetime(9999, 12, 31, tzinfo=UTC)
    ApiKey.objects.filter(pk=key.pk).update(expires_at=last)  # the dashboard accepts 9999-12-31
    response = browser.post("/admin/keys/apikey/", {"action": "extend_expiry", "days": "30",
                                                    "_selected_action": [str(key.pk)]}, follow=True)
    assert response.status_code == 200
    assert "Not extended: Alice&#x27;s laptop" in response.content.decode()
    key.refresh_from_db()
    assert key.expires_at == last


@pytest.mark.parametrize("expires_on", ["2030-01-01T00:00:00+99:00", "10000-01-01", "0001-01-01", "2030-02-30",
                                        "²⁰³⁰-01-01", "+2030-01-01"])
def test_dashboard_refuses_junk_dates_without_crashing(expires_on, browser):
    before = ApiKey.objects.count()
    response = browser.post("/settings/advanced/api-keys/new/", {"name": "d", "expires_on": expires_on, "mode": "live"})
    assert response.status_code == 400
    assert ApiKey.objects.count() == before


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["١٠", "1_0", " 1 0", "+-1", True, "10.5"])
def test_numbers_in_a_json_body_are_json_numbers_or_ascii_digits(owner, value):
    from keys.models import KeyLimit
    from tests.clients import session_client
    from tests.factories import make_key

    key, _ = make_key(owner)
    client = session_client(owner)
    limits = client.put(f"/api/v1/api-keys/{key.pk}/limits", {"request_limit": value}, format="json")
    assert limits.status_code == 400 and limits.json()["code"] == "validation_error"
    regenerate = client.post(f"/api/v1/api-keys/{key.pk}/regenerate", {"grace_period_seconds": value}, format="json")
    assert regenerate.status_code == 400 and "key" not in regenerate.json()
    assert not KeyLimit.objects.exists() and ApiKey.objects.get(pk=key.pk).key_hash == key.key_hash
    accepted = client.put(f"/api/v1/api-keys/{key.pk}/limits", {"request_limit": "10"}, format="json")
    assert accepted.status_code == 200 and KeyLimit.objects.get().request_limit == 10


def test_a_chunked_body_is_refused_not_read_as_empty(owner, alice_key):
    """Django reads a body by its Content-Length; a chunked one arrived empty, and a PUT of
    limits cleared them. Refused with 411, and the limits stay."""
    from accounts.access import OPERATOR
    from keys.limit_services import limits_set

    key, _ = alice_key
    limits_set(api_key=key, grantor=OPERATOR, request_limit=5)
    response = session_client(owner).generic(
        "PUT", f"/api/v1/api-keys/{key.pk}/limits", b'{"request_limit": 9}', content_type="application/json",
        HTTP_TRANSFER_ENCODING="chunked")
    assert response.status_code == 411 and problem(response)["code"] == "length_required"
    key.limit.refresh_from_db()
    assert key.limit.request_limit == 5


def _assert_malformed(world, method, path, body, says):
    """The JSON body is refused as malformed_request, its detail saying `says`, and nothing is written."""
    client, names = world
    before = database()
    response = client.generic(method.upper(), path.format(**names), body, content_type="application/json")
    assert response.status_code == 400
    error = problem(response)
    assert error["code"] == "malformed_request" and says in error["detail"], error
    assert database() == before


@pytest.mark.parametrize(("method", "path", "body"), [
    ("post", "/api/v1/api-keys", '{"name": "Checked", "name": "Saved"}'),
    ("patch", "/api/v1/api-keys/{key}", '{"expires_at": null, "expires_at": "2099-01-01T00:00:00Z"}'),
    ("put", "/api/v1/api-keys/{key}/limits", '{"request_limit": 10, "reset_period": "daily", "request_limit": null}'),
    ("post", "/api/v1/api-keys", '{"name": "n", "scopes": ["keys:read"], "x": {"a": 1, "a": 2}}'),
])
def test_a_name_twice_in_one_json_object_is_a_malformed_body(method, path, body, world):
    """Python keeps the last of two equal names, other parsers the first: what a proxy or a
    log checked would not be what was saved."""
    _assert_malformed(world, method, path, body, "appears twice in one object")


@pytest.mark.parametrize(("method", "path", "body"), [
    ("post", "/api/v1/api-keys", '{"name": 1e400}'),  # was a key named "inf"
    ("patch", "/api/v1/api-keys/{key}", '{"name": -1e999}'),
    ("put", "/api/v1/api-keys/{key}/limits", '{"request_limit": 1E400, "reset_period": "daily"}'),
])
def test_a_number_too_large_for_a_float_is_a_malformed_body(method, path, body, world):
    _assert_malformed(world, method, path, body, "is too large")
