from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.clients import key_client, session_client
from tests.factories import make_key
from usage.log_writes import write
from usage.models import DailyRollup, RequestLog, UsageRollup
from usage.periods import day_of, hour_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def traffic(alice, alice_key):
    """Alice's key: 3 free successes, 2 standard, 1 premium, 2 refused for a bad body."""
    key, raw = alice_key
    client = key_client(raw)
    for _ in range(3):
        client.get("/api/v1/me", HTTP_ORIGIN="https://app.example.com")
    for _ in range(2):
        client.get("/api/v1/demo/echo", HTTP_REFERER="https://partner.example.org/page")
    client.post("/api/v1/demo/report", {"title": "Q3"}, format="json")
    for _ in range(2):
        client.post("/api/v1/demo/report", {"nope": 1}, format="json")
    return key


def test_every_keyed_request_is_logged_with_its_details(traffic):
    record = RequestLog.objects.filter(path="/api/v1/demo/echo").first()
    assert (record.method, record.status_code, record.outcome, record.tier) == ("GET", 200, "success", "standard")
    assert record.route == "api/v1/demo/echo" and record.domain == "partner.example.org"
    assert record.client_ip == "127.0.0.1" and record.latency_ms >= 0
    assert record.user.username == "alice" and record.company.name == "Acme"
    failed = RequestLog.objects.filter(status_code=400).first()
    assert (failed.error_code, failed.outcome, failed.cost_microcents) == ("validation_error", "failed", 1000)


def test_requests_refused_for_a_known_key_are_logged_against_it(alice, alice_key):
    key, raw = alice_key
    from keys.services import api_key_revoke

    api_key_revoke(api_key=key, actor_user=alice)
    key_client(raw).get("/api/v1/me")
    record = RequestLog.objects.get()
    assert (record.status_code, record.error_code, record.cost_microcents) == (401, "revoked_api_key", 0)


def test_usage_summary(alice, traffic):
    body = session_client(alice).get(f"/api/v1/api-keys/{traffic.pk}/usage?days=7").json()
    assert body == {"api_key_id": str(traffic.pk), "api_key_name": traffic.name, "days": 7, "total_requests": 8,
                    "successful_requests": 6, "failed_requests": 2, "total_spend_microcents": 3200}


def test_usage_by_tier(alice, traffic):
    body = session_client(alice).get(f"/api/v1/api-keys/{traffic.pk}/usage/by-tier").json()
    assert body["days"] == 30
    assert body["tiers"] == [{"tier": "free", "requests": 3, "spend_microcents": 0},
                             {"tier": "premium", "requests": 3, "spend_microcents": 3000},
                             {"tier": "standard", "requests": 2, "spend_microcents": 200}]


def test_usage_errors(alice, traffic):
    body = session_client(alice).get(f"/api/v1/api-keys/{traffic.pk}/usage/errors").json()
    assert body["total_errors"] == 2
    assert [(e["status_code"], e["code"], e["count"]) for e in body["errors"]] == [(400, "validation_error", 2)]
    assert body["errors"][0]["last_seen"]


def test_usage_requests_pages_and_filters(alice, traffic):
    client = session_client(alice)
    url = f"/api/v1/api-keys/{traffic.pk}/usage/requests"
    page = client.get(f"{url}?page_size=3").json()
    assert (page["total"], page["page"], page["page_size"], page["total_pages"]) == (8, 1, 3, 3)
    assert page["items"][0]["path"] == "/api/v1/demo/report"  # newest first
    assert client.get(f"{url}?status=failed").json()["total"] == 2
    assert client.get(f"{url}?status=success&tier=standard").json()["total"] == 2
    assert client.get(f"{url}?domain=example.com").json()["total"] == 3
    assert client.get(f"{url}?page_size=999").json()["page_size"] == 200
    assert client.get(f"{url}?status=maybe").status_code == 400


def test_timeseries_is_hourly_up_to_two_days_and_daily_beyond(alice, traffic):
    client = session_client(alice)
    hourly = client.get(f"/api/v1/api-keys/{traffic.pk}/usage/timeseries?days=2").json()
    assert hourly["granularity"] == "hour" and len(hourly["data"]) == 48
    assert sum(p["requests"] for p in hourly["data"]) == 8
    last = hourly["data"][-1]
    assert (last["requests"], last["successful"], last["failed"], last["spend_microcents"]) == (8, 6, 2, 3200)
    daily = client.get(f"/api/v1/api-keys/{traffic.pk}/usage/timeseries?days=30").json()
    assert daily["granularity"] == "day" and len(daily["data"]) == 30
    assert [p["requests"] for p in daily["data"]] == [0] * 29 + [8]


@pytest.mark.parametrize("days", ["0", "366", "-1", "abc", "1.5"])
def test_days_out_of_range_is_400(days, alice, alice_key):
    response = session_client(alice).get(f"/api/v1/api-keys/{alice_key[0].pk}/usage?days={days}")
    assert response.status_code == 400 and response.json()["code"] == "invalid_days"


@pytest.mark.parametrize("caller, status", [("alice", 200), ("bob", 403), ("admin", 200), ("outsider_admin", 404)])
def test_usage_follows_the_keys_access_rules(caller, status, request, traffic):
    user = request.getfixturevalue(caller)
    assert session_client(user).get(f"/api/v1/api-keys/{traffic.pk}/usage").status_code == status


def test_company_usage_is_for_admins_with_a_per_key_breakdown(alice, bob, admin, traffic):
    _, bob_raw = make_key(bob, name="Bob's key")
    key_client(bob_raw).get("/api/v1/me")
    assert session_client(alice).get("/api/v1/usage").status_code == 403
    body = session_client(admin).get("/api/v1/usage").json()
    assert body["total_requests"] == 9
    assert [(k["api_key_name"], k["total_requests"]) for k in body["keys"]] == [("Alice's laptop", 8), ("Bob's key", 1)]
    series = session_client(admin).get("/api/v1/usage/timeseries?days=1").json()
    assert series["granularity"] == "hour" and sum(p["requests"] for p in series["data"]) == 9


def test_rollups_match_the_log(traffic):
    assert sum(UsageRollup.objects.values_list("requests", flat=True)) == RequestLog.objects.count()
    assert sum(DailyRollup.objects.values_list("requests", flat=True)) == RequestLog.objects.count()


def logged_at(key, *moments) -> None:
    write([RequestLog(api_key=key, company=key.company, user=key.owner, created_at=at, method="GET",
                      path="/api/v1/me", status_code=200, latency_ms=1, tier="standard", cost_microcents=100)
           for at in moments])


def test_a_window_over_two_days_is_today_and_the_utc_days_before_it(alice, alice_key):
    """Long windows are read from daily rollups: days=30 is today and the 29 UTC days before
    it, so the totals always equal the sum of the daily chart."""
    key, _ = alice_key
    first_day = day_of(timezone.now()) - timedelta(days=29)
    logged_at(key, first_day, first_day + timedelta(hours=23, minutes=59), timezone.now(),
              first_day - timedelta(seconds=1))  # the last second of the day before: outside
    client = session_client(alice)
    usage = client.get(f"/api/v1/api-keys/{key.pk}/usage?days=30").json()
    assert (usage["total_requests"], usage["total_spend_microcents"]) == (3, 300)
    series = client.get(f"/api/v1/api-keys/{key.pk}/usage/timeseries?days=30").json()["data"]
    assert series[0]["bucket"] == first_day.isoformat().replace("+00:00", "Z") and series[0]["requests"] == 2
    assert sum(p["requests"] for p in series) == 3
    assert client.get(f"/api/v1/api-keys/{key.pk}/usage?days=31").json()["total_requests"] == 4


def test_a_window_of_two_days_is_the_last_forty_eight_hours(alice, alice_key):
    key, _ = alice_key
    first_hour = hour_of(timezone.now()) - timedelta(hours=47)
    logged_at(key, first_hour, first_hour - timedelta(seconds=1))
    usage = session_client(alice).get(f"/api/v1/api-keys/{key.pk}/usage?days=2").json()
    assert usage["total_requests"] == 1


def test_daily_rollups_are_the_sum_of_the_hourly_ones(alice_key):
    key, _ = alice_key
    day = day_of(timezone.now()) - timedelta(days=3)
    logged_at(key, day + timedelta(hours=1), day + timedelta(hours=1, minutes=5), day + timedelta(hours=22))
    assert UsageRollup.objects.filter(api_key=key).count() == 2
    daily = DailyRollup.objects.get(api_key=key)
    assert (daily.bucket, daily.requests, daily.spend_microcents) == (day, 3, 300)
    assert daily.last_seen == day + timedelta(hours=22)


def test_prune_deletes_old_rows_in_batches_and_keeps_rollups(traffic, capsys):
    RequestLog.objects.filter(path="/api/v1/me").update(created_at=timezone.now() - timedelta(days=100))
    rollups = [list(model.objects.values_list("requests", flat=True)) for model in (UsageRollup, DailyRollup)]
    call_command("prune_usage", "--older-than", "90d", "--batch-size", "2")
    out, err = capsys.readouterr()
    assert "Deleted 3 request-log rows" in out and "so far" in err
    assert RequestLog.objects.count() == 5
    assert [list(model.objects.values_list("requests", flat=True)) for model in (UsageRollup, DailyRollup)] == rollups


@pytest.mark.parametrize("days", [2, 30])
def test_a_request_logged_after_the_chart_was_begun_is_left_out_not_a_500(alice, alice_key, days):
    """Another worker may flush a request stamped a moment after this call took `now`: across
    an hour or a day boundary its bucket is past the chart's last one."""
    key, _ = alice_key
    logged_at(key, timezone.now(), timezone.now() + timedelta(days=1))
    response = session_client(alice).get(f"/api/v1/api-keys/{key.pk}/usage/timeseries?days={days}")
    assert response.status_code == 200
    assert sum(p["requests"] for p in response.json()["data"]) == 1
