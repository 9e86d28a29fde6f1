"""What a script sees of its key's limits: RateLimit header fields it can parse with a
Structured Fields parser, product routes metered and Keyhouse's own routes not, so a key can
always lift a limit it set on itself, and responses no cache keeps."""
import http_sf
import pytest
import time_machine
from django.utils import timezone

from accounts.access import OPERATOR
from keys.limit_services import limits_set
from keys.models import KeyLimit
from tests.clients import key_client, session_client
from tests.factories import make_key
from usage.models import RequestLog
from usage.periods import period_bounds

pytestmark = pytest.mark.django_db

ECHO, REPORT = "/api/v1/demo/echo", "/api/v1/demo/report"  # priced 100 and 1000 microcents
POLICY_PARAMETERS = {"q", "qu", "w", "pk"}
LIMIT_PARAMETERS = {"r", "t", "pk"}
QUOTA_UNITS = {"requests", "content-bytes", "concurrent-requests"}


def fields(response) -> tuple[dict, dict]:
    """RateLimit-Policy and RateLimit as {policy: parameters}, parsed as the draft says: Lists
    of Items whose value is a String; anything else would make a client ignore the field."""
    parsed = []
    for name in ("RateLimit-Policy", "RateLimit"):
        items = http_sf.parse(response[name].encode(), tltype="list")
        assert all(isinstance(value, str) for value, _ in items), response[name]
        parsed.append({value: params for value, params in items})
    return parsed[0], parsed[1]


def assert_registered_only(policy: dict, limit: dict):
    for params in policy.values():
        assert isinstance(params["q"], int) and params["q"] >= 0
        assert isinstance(params["w"], int) and params["w"] > 0
        assert params.get("qu", "requests") in QUOTA_UNITS
        assert isinstance(params["pk"], bytes)
        assert all(name in POLICY_PARAMETERS or name.startswith("keyhouse-") for name in params)
    for params in limit.values():
        assert isinstance(params["r"], int) and params["r"] >= 0 and params["t"] > 0
        assert all(name in LIMIT_PARAMETERS or name.startswith("keyhouse-") for name in params)


@pytest.fixture
def owner_key(owner):
    """A key of a company owner: owners may change the limits of their own keys."""
    return make_key(owner, name="Owner's script")


def test_headers_parse_and_match_the_keys_counters(alice_key):
    key, raw = alice_key
    limits_set(api_key=key, grantor=OPERATOR, request_limit=10, budget_limit_microcents=1050, reset_period="weekly")
    client = key_client(raw)
    client.get(ECHO)
    response = client.get(ECHO)
    assert response.status_code == 200
    policy, limit = fields(response)
    assert_registered_only(policy, limit)
    start, end = period_bounds("weekly", timezone.now())
    window = int((end - start).total_seconds())
    assert policy["requests"] == {"q": 10, "qu": "requests", "w": window, "pk": key.pk.bytes}
    # The budget in requests at this route's price, and the money itself in vendor parameters.
    assert policy["budget"] == {"q": 10, "qu": "requests", "w": window, "pk": key.pk.bytes,
                                "keyhouse-budget-microcents": 1050, "keyhouse-price-microcents": 100}
    counted = client.get(f"/api/v1/api-keys/{key.pk}/limits").json()["limits"]
    assert (counted["requests_used"], counted["spend_used_microcents"]) == (2, 200)
    assert limit["requests"]["r"] == 10 - counted["requests_used"] == 8
    assert limit["budget"]["keyhouse-remaining-microcents"] == 1050 - counted["spend_used_microcents"] == 850
    assert limit["budget"]["r"] == 850 // 100
    assert 0 < limit["requests"]["t"] == limit["budget"]["t"] <= window

    report = client.post(REPORT, {"title": "x"}, format="json")  # 1000 of the 850 left: refused
    assert report.status_code == 429
    report_policy, report_limit = fields(report)
    assert report_policy["budget"]["q"] == 1 and report_limit["budget"]["r"] == 0
    assert report_limit["budget"]["keyhouse-remaining-microcents"] == 850
    assert report_limit["requests"]["r"] == 8  # a refused request counts nothing


def test_a_429_says_which_policy_and_retry_after_is_not_before_its_reset(alice_key):
    key, raw = alice_key
    limits_set(api_key=key, grantor=OPERATOR, budget_limit_microcents=150, reset_period="daily")
    client = key_client(raw)
    assert client.get(ECHO).status_code == 200
    refused = client.get(ECHO)
    assert refused.status_code == 429
    assert refused.json()["violated-policies"] == ["budget"]
    policy, limit = fields(refused)
    assert_registered_only(policy, limit)
    assert set(policy) == {"budget"} and limit["budget"]["r"] == 0
    assert limit["budget"]["keyhouse-remaining-microcents"] == 50
    assert int(refused["Retry-After"]) >= limit["budget"]["t"] > 0


def test_requests_that_cost_nothing_get_no_budget_policy(alice):
    key, raw = make_key(alice, mode="test")  # test keys are never charged
    limits_set(api_key=key, grantor=OPERATOR, request_limit=5, budget_limit_microcents=100)
    policy, limit = fields(key_client(raw).get(ECHO))
    assert set(policy) == set(limit) == {"requests"}


def test_keys_made_by_a_limited_key_share_its_partition(owner_key):
    key, raw = owner_key
    limits_set(api_key=key, grantor=OPERATOR, request_limit=10)
    created = key_client(raw).post("/api/v1/api-keys", {"name": "child"}, format="json").json()
    child_policy, child_limit = fields(key_client(created["key"]).get(ECHO))
    policy, limit = fields(key_client(raw).get(ECHO))
    assert child_policy["requests"]["pk"] == policy["requests"]["pk"] == key.pk.bytes
    assert (child_limit["requests"]["r"], limit["requests"]["r"]) == (9, 8)


MANAGEMENT_CALLS = [
    ("get", "/api/v1/me"),
    ("get", "/api/v1/api-keys"),
    ("get", "/api/v1/api-keys/{key}"),
    ("get", "/api/v1/api-keys/{key}/limits"),
    ("get", "/api/v1/api-keys/{key}/restrictions"),
    ("get", "/api/v1/api-keys/{key}/usage"),
    ("get", "/api/v1/api-keys/{key}/usage/requests"),
    ("get", "/api/v1/api-keys/{key}/usage/timeseries"),
    ("get", "/api/v1/audit-events"),
    ("get", "/api/v1/company/policy"),
    ("get", "/api/v1/api-keys/legacy-status"),
]


@pytest.mark.parametrize("method,route", MANAGEMENT_CALLS)
def test_management_routes_are_never_refused_by_the_product_quota_nor_count_against_it(method, route, owner_key):
    key, raw = owner_key
    limits_set(api_key=key, grantor=OPERATOR, request_limit=1, budget_limit_microcents=100)
    client = key_client(raw)
    assert client.get(ECHO).status_code == 200
    assert client.get(ECHO).status_code == 429
    response = getattr(client, method)(route.format(key=key.pk))
    assert response.status_code == 200
    policy, limit = fields(response)
    assert set(policy) == {"management"} and policy["management"]["w"] == 60
    assert limit["management"]["r"] < policy["management"]["q"]
    limits = client.get(f"/api/v1/api-keys/{key.pk}/limits").json()["limits"]
    assert limits["requests_used"] == 1  # the one product call admitted; nothing else counted


def test_a_key_that_locked_itself_out_can_still_remove_its_limit(owner_key):
    key, raw = owner_key
    client = key_client(raw)
    url = f"/api/v1/api-keys/{key.pk}/limits"
    assert client.put(url, {"budget_limit_microcents": 200}, format="json").status_code == 200
    assert [client.get(ECHO).status_code for _ in range(3)] == [200, 200, 429]  # budget spent
    assert client.put(url, {"request_limit": 0, "budget_limit_microcents": 200},
                      format="json").json()["limits"]["request_limit"] == 0
    assert client.get(ECHO).status_code == 429
    assert client.get(url).json()["limits"]["spend_used_microcents"] == 200

    assert client.delete(url).status_code // 100 == 2
    assert not KeyLimit.objects.filter(api_key=key).exists()
    assert client.get(ECHO).status_code == 200
    assert "RateLimit" not in client.get(ECHO)


def test_a_limit_someone_else_set_stays_out_of_the_keys_reach(owner, owner_key):
    key, raw = owner_key
    limits_set(api_key=key, grantor=OPERATOR, request_limit=0)
    response = key_client(raw).delete(f"/api/v1/api-keys/{key.pk}/limits")
    assert response.status_code == 403 and response.json()["code"] == "limit_not_allowed"
    assert KeyLimit.objects.get(api_key=key).request_limit == 0


def test_a_self_limited_keys_children_stay_limited(owner_key):
    key, raw = owner_key
    client = key_client(raw)
    client.put(f"/api/v1/api-keys/{key.pk}/limits", {"request_limit": 5}, format="json")
    child = client.post("/api/v1/api-keys", {"name": "child"}, format="json").json()
    refused = key_client(child["key"]).delete(f"/api/v1/api-keys/{child['id']}/limits")
    assert refused.status_code == 403
    assert KeyLimit.objects.filter(api_key_id=child["id"]).exists()


def test_management_routes_have_their_own_abuse_limit(owner_key, settings):
    settings.MANAGEMENT_REQUESTS_PER_MINUTE = 3
    key, raw = owner_key
    client = key_client(raw)
    with time_machine.travel("2026-11-30 14:02:10Z", tick=False):
        answers = [client.get("/api/v1/me") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    refused = answers[3]
    assert refused.json()["code"] == "management_rate_limit_exceeded"
    assert refused.json()["violated-policies"] == ["management"]
    policy, limit = fields(refused)
    assert policy["management"]["q"] == 3 and limit["management"]["r"] == 0
    assert int(refused["Retry-After"]) == limit["management"]["t"] == 50
    assert client.get(ECHO).status_code == 200  # product traffic is not held back by it
    with time_machine.travel("2026-11-30 14:03:00Z", tick=False):
        assert client.get("/api/v1/me").status_code == 200  # the next minute


def test_management_routes_need_no_counter_store(owner_key, unreachable_redis):
    key, raw = owner_key
    client = key_client(raw)
    client.put(f"/api/v1/api-keys/{key.pk}/limits", {"request_limit": 100}, format="json")
    assert client.get(ECHO).status_code == 503  # the product quota fails closed
    assert client.get("/api/v1/me").status_code == 200
    assert client.delete(f"/api/v1/api-keys/{key.pk}/limits").status_code // 100 == 2
    assert not KeyLimit.objects.filter(api_key=key).exists()
    assert client.get(ECHO).status_code == 200


@pytest.mark.parametrize("call", [
    lambda client, key: client.get("/api/v1/me"),
    lambda client, key: client.get(ECHO),
    lambda client, key: client.post("/api/v1/api-keys", {"name": "x"}, format="json"),
    lambda client, key: client.get("/api/v1/api-keys?status=bogus"),
    lambda client, key: client.get("/api/v1/api-keys/00000000-0000-4000-8000-000000000000"),
    lambda client, key: client.put(f"/api/v1/api-keys/{key.pk}/limits", {"request_limit": -1}, format="json"),
])
def test_keyed_responses_are_kept_by_no_cache(call, alice_key):
    key, raw = alice_key
    assert call(key_client(raw), key)["Cache-Control"] == "private, no-store"


@pytest.mark.parametrize("raw", ["sk_live_" + "A" * 38, "not-a-key"])
def test_refused_keys_get_no_cacheable_answer_either(raw):
    response = key_client(raw).get("/api/v1/me")
    assert response.status_code == 401 and response["Cache-Control"] == "private, no-store"


def test_management_calls_are_logged_free_of_charge(owner_key):
    key, raw = owner_key
    limits_set(api_key=key, grantor=OPERATOR, request_limit=1)
    client = key_client(raw)
    client.get("/api/v1/me")
    client.get(ECHO)
    assert set(RequestLog.objects.values_list("path", "cost_microcents")) == {("/api/v1/me", 0), (ECHO, 100)}


def test_signed_in_answers_are_private_too(alice):
    assert session_client(alice).get("/api/v1/api-keys")["Cache-Control"] == "private, no-store"


@pytest.mark.parametrize("path", [ECHO, "/api/v1/me"])
def test_a_keyed_request_works_out_the_scope_it_needs_once(path, alice_key, monkeypatch):
    """The restrictions check and the limit check both need it: the first hands it to the second."""
    import keys.restrictions
    import usage.limits

    worked_out = []
    real = keys.restrictions.needed_scope

    def counting(view, method):
        worked_out.append(method)
        return real(view, method)

    monkeypatch.setattr(keys.restrictions, "needed_scope", counting)
    monkeypatch.setattr(usage.limits, "needed_scope", counting)
    assert key_client(alice_key[1]).get(path).status_code == 200
    assert worked_out == ["GET"]


def test_options_on_a_product_route_spends_nothing_of_the_quota(owner_key):
    """OPTIONS reads the route's description and runs none of the product: it is logged, free,
    under the management abuse limit, and the key's one request is still there to spend."""
    key, raw = owner_key
    limits_set(api_key=key, grantor=OPERATOR, request_limit=1, budget_limit_microcents=100)
    client = key_client(raw)
    answers = [client.options(ECHO) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    policy, _ = fields(answers[-1])
    assert set(policy) == {"management"}
    assert client.get(f"/api/v1/api-keys/{key.pk}/limits").json()["limits"]["requests_used"] == 0
    assert client.get(ECHO).status_code == 200
    assert client.get(ECHO).status_code == 429
    logged = list(RequestLog.objects.filter(path=ECHO).values_list("method", "status_code", "cost_microcents"))
    assert sorted(logged) == sorted([("OPTIONS", 200, 0)] * 3 + [("GET", 200, 100), ("GET", 429, 0)])
