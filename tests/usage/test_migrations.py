"""Upgrading a database that already has usage: the daily rollups start complete."""
from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import make_key
from tests.migrations import migrate, migrate_to_latest
from usage.models import DailyRollup, RequestLog

BEFORE, AFTER = [("usage", "0001_initial")], [("usage", "0002_daily_rollups")]


@pytest.fixture(autouse=True)
def _latest_schema_after():
    """Leave the database as every other test expects it: all migrations applied."""
    yield
    migrate_to_latest()


@pytest.mark.django_db(transaction=True)
def test_the_upgrade_fills_daily_rollups_from_the_hourly_ones(alice_key):
    key, _ = alice_key
    hourly = migrate(BEFORE).get_model("usage", "UsageRollup")
    day = datetime(2026, 2, 28, tzinfo=UTC)

    def rollup(at, tier, requests, spend):
        hourly.objects.create(api_key_id=key.pk, company_id=key.company_id, bucket=at, tier=tier, status_code=200,
                              error_code="", requests=requests, spend_microcents=spend, last_seen=at)

    rollup(day + timedelta(hours=3), "standard", 5, 500)
    rollup(day + timedelta(hours=23), "standard", 2, 200)
    rollup(day + timedelta(hours=23), "free", 4, 0)
    rollup(day + timedelta(days=1), "standard", 1, 100)
    migrate(AFTER)
    rows = DailyRollup.objects.filter(api_key=key).order_by("bucket", "tier")
    assert [(r.bucket, r.tier, r.requests, r.spend_microcents, r.last_seen) for r in rows] == [
        (day, "free", 4, 0, day + timedelta(hours=23)),
        (day, "standard", 7, 700, day + timedelta(hours=23)),
        (day + timedelta(days=1), "standard", 1, 100, day + timedelta(days=1)),
    ]


@pytest.mark.django_db(transaction=True)
def test_the_upgrade_masks_keys_already_in_the_request_log(alice_key, bob):
    key, _ = alice_key
    _, pasted = make_key(bob)
    log = migrate([("usage", "0009_request_log_age_index_not_an_order")]).get_model("usage", "RequestLog")

    def row(**fields):
        return log.objects.create(api_key_id=key.pk, company_id=key.company_id, user_id=key.owner_id,
                                  created_at=datetime.now(UTC), method="GET", status_code=200, latency_ms=1,
                                  tier="standard", **{"path": "/api/v1/me", **fields}).pk

    in_agent = row(user_agent=f"script/1.0 {pasted}")
    in_host = row(domain=f"{pasted.lower()}.example.com")
    in_path = row(path=f"/api/v1/things/{pasted}")
    cut = row(user_agent=f"script/1.0 {pasted[:-1]}")
    plain = row(user_agent="sk_ but no key", domain="example.com")
    migrate([("usage", "0012_mask_key_fragments_already_logged")])
    shown = pasted[:12] + "…"
    stored = {r.pk: (r.path, r.user_agent, r.domain) for r in RequestLog.objects.all()}
    assert stored == {
        in_agent: ("/api/v1/me", f"script/1.0 {shown}", ""),
        in_host: ("/api/v1/me", "", f"{shown.lower()}.example.com"),
        in_path: (f"/api/v1/things/{shown}", "", ""),
        cut: ("/api/v1/me", f"script/1.0 {shown}", ""),
        plain: ("/api/v1/me", "sk_ but no key", "example.com"),
    }
