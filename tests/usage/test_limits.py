from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from accounts.access import OPERATOR
from keys.limit_services import limits_set
from keys.models import KeyLimit
from tests.clients import key_client, session_client
from tests.factories import make_key
from usage.models import RequestLog

pytestmark = pytest.mark.django_db

PRODUCT = "/api/v1/demo/echo"  # a product route: limits apply to these, not to Keyhouse's own


def test_request_limit_admits_exactly_the_limit_then_429_with_headers(alice_key):
    key, raw = alice_key
    limits_set(api_key=key, grantor=OPERATOR, request_limit=3, reset_period="daily")
    client = key_client(raw)
    statuses = [client.get(PRODUCT) for _ in range(5)]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429, 429]
    assert statuses[0]["RateLimit"].startswith('"requests";r=2;t=')
    assert statuses[2]["RateLimit"].startswith('"requests";r=0;')
    refused = statuses[3]
    assert refused.json()["code"] == "request_limit_exceeded"
    assert refused.json()["violated-policies"] == ["requests"]
    assert "resets in" in refused.json()["detail"]
    assert 0 < int(refused["Retry-After"]) <= 86400
    assert refused["RateLimit-Policy"].startswith('"requests";q=3;qu="requests";w=86400;pk=:')
    assert RequestLog.objects.filter(api_key=key).count() == 5
    assert RequestLog.objects.filter(api_key=key, status_code=429, error_code="request_limit_exceeded").count() == 2


def test_budget_counts_the_cost_of_the_request_being_made(alice_key):
    key, raw = alice_key
    limits_set(api_key=key, grantor=OPERATOR, budget_limit_microcents=250)  # standard costs 100
    client = key_client(raw)
    assert [client.get("/api/v1/demo/echo").status_code for _ in range(3)] == [200, 200, 429]
    refused = client.get("/api/v1/demo/echo")
    assert refused.json()["code"] == "budget_limit_exceeded"
    assert refused.json()["violated-policies"] == ["budget"]
    # Keyhouse's own routes are not product traffic: they still answer.
    assert client.get("/api/v1/me").status_code == 200
    assert client.post("/api/v1/demo/report", {"title": "x"}, format="json").status_code == 429
    spent = sum(RequestLog.objects.filter(api_key=key).values_list("cost_microcents", flat=True))
    assert spent == 200


def test_test_mode_keys_are_never_charged(alice):
    key, raw = make_key(alice, mode="test")
    limits_set(api_key=key, grantor=OPERATOR, budget_limit_microcents=150)
    client = key_client(raw)
    assert [client.post("/api/v1/demo/report", {"title": "a b"}, format="json").status_code for _ in range(3)] == [
        200
    ] * 3
    assert set(RequestLog.objects.values_list("cost_microcents", flat=True)) == {0}


def test_prices_follow_the_tier_of_the_view(alice_key):
    key, raw = alice_key
    client = key_client(raw)
    client.get("/api/v1/me")
    client.get("/api/v1/demo/echo?x=1")
    client.post("/api/v1/demo/report", {"title": "Quarterly"}, format="json")
    assert set(RequestLog.objects.values_list("tier", "cost_microcents")) == {
        ("free", 0), ("standard", 100), ("premium", 1000)}


def test_disabled_limits_are_not_enforced_but_kept(alice_key):
    key, raw = alice_key
    limits_set(api_key=key, grantor=OPERATOR, request_limit=1, enabled=False)
    client = key_client(raw)
    assert [client.get(PRODUCT).status_code for _ in range(3)] == [200] * 3
    assert "RateLimit" not in client.get(PRODUCT)


def test_counters_reset_with_the_period(alice_key, time_machine):
    key, raw = alice_key
    limits_set(api_key=key, grantor=OPERATOR, request_limit=1, reset_period="daily")
    client = key_client(raw)
    # A day still ahead: Redis expires a period's counter at the period's end by its own clock.
    next_day = datetime.combine(timezone.now().date() + timedelta(days=2), datetime.min.time(), UTC)
    time_machine.move_to(next_day - timedelta(seconds=1), tick=False)
    assert client.get(PRODUCT).status_code == 200
    last_second = client.get(PRODUCT)
    assert last_second.status_code == 429 and last_second["Retry-After"] == "1"
    time_machine.move_to(next_day, tick=False)
    assert client.get(PRODUCT).status_code == 200


def test_limits_api_roles(alice, admin, alice_key):
    key, _ = alice_key
    url = f"/api/v1/api-keys/{key.pk}/limits"
    empty = session_client(alice).get(url).json()
    assert empty == {"api_key_id": str(key.pk), "api_key_name": key.name, "limits": None, "has_limits": False}
    refused = session_client(alice).put(url, {"request_limit": 10}, format="json")
    assert refused.status_code == 403 and not KeyLimit.objects.exists()

    body = session_client(admin).put(url, {"request_limit": 1000, "budget_limit_microcents": 5_000_000},
                                     format="json").json()
    assert body["has_limits"] is True
    assert body["limits"]["reset_period"] == "monthly" and body["limits"]["enabled"] is True
    assert body["limits"]["requests_used"] == 0
    assert session_client(alice).get(url).json()["limits"]["request_limit"] == 1000

    assert session_client(alice).delete(url).status_code == 403
    removed = session_client(admin).delete(url)
    assert (removed.status_code, removed.content) == (204, b"")
    assert not KeyLimit.objects.exists()


@pytest.mark.parametrize("payload", [
    {"request_limit": -1},
    {"budget_limit_microcents": -5},
    {"request_limit": 10**13},
    {"request_limit": "lots"},
    {"reset_period": "yearly"},
    {"enabled": "perhaps"},
    {"request_limit": 5, "period": "daily"},
    {"request_limit": None, "budget_limit_microcents": None},  # lifting every limit is DELETE's
    {"request_limit": None},  # the key's only number removed: the same
    {"request_limit": 1e2},  # whole numbers only: JSON 1e2 and 100.0 are floats
    {"request_limit": 100.0},
    {"budget_limit_microcents": 2.5},
])
def test_bad_limits_are_400_and_change_nothing(payload, admin, alice_key):
    key, _ = alice_key
    limits_set(api_key=key, grantor=OPERATOR, request_limit=7)
    response = session_client(admin).put(f"/api/v1/api-keys/{key.pk}/limits", payload, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert KeyLimit.objects.get().request_limit == 7


def test_a_field_left_out_keeps_its_value_as_in_the_seed_s_example(admin, alice_key):
    """The seed's own example, `{"reset_period": ..., "enabled": false}`, switches a limit off and
    keeps its numbers; an empty PUT changes nothing; a number sent as null is removed."""
    key, _ = alice_key
    url = f"/api/v1/api-keys/{key.pk}/limits"
    limits_set(api_key=key, grantor=OPERATOR, request_limit=7, budget_limit_microcents=900)
    client = session_client(admin)

    off = client.put(url, {"reset_period": "daily", "enabled": False}, format="json")
    assert off.status_code == 200 and off.json()["has_limits"] is False
    limit = KeyLimit.objects.get()
    assert (limit.request_limit, limit.budget_limit_microcents, limit.reset_period, limit.enabled) == (
        7, 900, "daily", False)

    assert client.put(url, {}, format="json").status_code == 200
    assert KeyLimit.objects.filter(request_limit=7, budget_limit_microcents=900, enabled=False).exists()

    on = client.put(url, {"enabled": True, "budget_limit_microcents": None}, format="json").json()
    assert on["has_limits"] is True
    assert (on["limits"]["request_limit"], on["limits"]["budget_limit_microcents"]) == (7, None)


def test_a_put_without_a_number_on_a_key_without_limits_is_400(admin, alice_key):
    key, _ = alice_key
    response = session_client(admin).put(f"/api/v1/api-keys/{key.pk}/limits", {"enabled": False}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "validation_error"
    assert not KeyLimit.objects.exists()


def test_limits_show_this_periods_use(admin, alice_key):
    key, raw = alice_key
    limits_set(api_key=key, grantor=OPERATOR, request_limit=10, budget_limit_microcents=10_000)
    client = key_client(raw)
    client.get("/api/v1/demo/echo")
    client.get("/api/v1/demo/echo")
    limits = session_client(admin).get(f"/api/v1/api-keys/{key.pk}/limits").json()["limits"]
    assert (limits["requests_used"], limits["spend_used_microcents"]) == (2, 200)


def test_new_limits_take_effect_on_the_next_request(admin, alice_key):
    key, raw = alice_key
    client = key_client(raw)
    assert client.get(PRODUCT).status_code == 200  # the key is now cached
    session_client(admin).put(f"/api/v1/api-keys/{key.pk}/limits", {"request_limit": 0}, format="json")
    assert client.get(PRODUCT).status_code == 429


def test_unreachable_counter_store_fails_closed_with_503(alice_key, unreachable_redis):
    key, raw = alice_key
    limits_set(api_key=key, grantor=OPERATOR, request_limit=100)
    response = key_client(raw).get(PRODUCT)
    assert response.status_code == 503
    assert response.json()["code"] == "counter_store_unavailable"
    assert RequestLog.objects.get().status_code == 503


def test_keys_without_limits_still_work_when_the_cache_is_down(alice_key, unreachable_redis):
    assert key_client(alice_key[1]).get("/api/v1/me").status_code == 200


def error_code(response) -> str:
    return response.json()["code"]


def test_a_redis_that_forgot_the_counter_script_still_counts_exactly(alice_key, own_redis):
    """After a Redis restart (its scripts gone) the next check loads the script once and counts."""
    import redis

    key, raw = alice_key
    limits_set(api_key=key, grantor=OPERATOR, request_limit=2, reset_period="daily")
    client = key_client(raw)
    assert client.get(PRODUCT).status_code == 200
    redis.Redis.from_url(own_redis.url).script_flush()
    assert client.get(PRODUCT).status_code == 200
    refused = client.get(PRODUCT)
    assert refused.status_code == 429 and error_code(refused) == "request_limit_exceeded"
    assert refused["RateLimit"].startswith('"requests";r=0;')


def test_a_counter_store_that_goes_away_and_comes_back_fails_closed_then_counts_on(alice_key, own_redis):
    key, raw = alice_key
    limits_set(api_key=key, grantor=OPERATOR, request_limit=3, reset_period="daily")
    client = key_client(raw)
    assert client.get(PRODUCT).status_code == 200
    own_redis.stop()
    down = client.get(PRODUCT)
    assert down.status_code == 503 and error_code(down) == "counter_store_unavailable"
    own_redis.start()  # a restart: empty, as a Redis without persistence comes back
    assert [client.get(PRODUCT).status_code for _ in range(4)] == [200, 200, 200, 429]
