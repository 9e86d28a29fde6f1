"""The request list of a key that holds most of the log, while other keys keep writing: on
PostgreSQL as on SQLite, its pages and their count read the key's own index, never the
created_at one backwards through every row the other keys wrote since (issue 16); pruning,
whose index that was, still deletes exactly the rows older than its moment."""
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.clients import session_client
from tests.factories import make_key
from usage.log_writes import write
from usage.models import RequestLog
from usage.services import usage_prune

pytestmark = pytest.mark.django_db

KEY_INDEX = "requestlog_key_time_id_idx"


def log_spread(key, count: int, first, last) -> None:
    """`count` rows of `key` evenly from `first` to `last`, oldest first (as they are written)."""
    step = (last - first) / (count - 1)
    write([RequestLog(api_key=key, company=key.company, user=key.owner, created_at=first + step * n, method="GET",
                      path="/api/v1/demo/echo", status_code=200, latency_ms=1, tier="standard", cost_microcents=100)
           for n in range(count)])


def plan_of(sql: str) -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("EXPLAIN " + sql)
            return "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("EXPLAIN QUERY PLAN " + sql)
        return "\n".join(row[-1] for row in cursor.fetchall())


def indexes_in(plan: str) -> set[str]:
    return set(re.findall(r"\b(requestlog_\w+_idx|usage_requestlog_pkey)\b", plan))


def test_a_busy_keys_pages_read_its_own_index_not_the_created_at_one_through_newer_rows(alice, alice_key):
    """2,000 rows of one key over 89 days, the planner's statistics taken then (autovacuum's),
    and then 120 newer rows of three other keys. Before usage.0009 PostgreSQL walked the
    created_at B-tree backwards for the first page and a cursor page, filtering out each of the
    other keys' rows (Rows Removed by Filter), then sorted ties by id (Incremental Sort)."""
    busy, _ = alice_key
    now = timezone.now()
    log_spread(busy, 2000, now - timedelta(days=89), now - timedelta(minutes=5))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    for n in range(3):
        other, _ = make_key(alice, name=f"Other {n}")
        log_spread(other, 40, now - timedelta(minutes=4), now)
    expected = list(RequestLog.objects.filter(api_key=busy).order_by("-created_at", "-id").values_list("id", flat=True))
    client = session_client(alice)
    url = f"/api/v1/api-keys/{busy.pk}/usage/requests?days=90"
    with CaptureQueriesContext(connection) as queries:
        first = client.get(url).json()
        second = client.get(f"{url}&cursor={first['next']}").json()
    assert [item["id"] for item in first["items"] + second["items"]] == expected[:100]
    assert first["total"] == 2000 and first["total_capped"] is False
    log_reads = [q["sql"] for q in queries if q["sql"].startswith("SELECT") and "usage_requestlog" in q["sql"]]
    assert len(log_reads) == 3  # the first page, its capped count, the cursor page
    # The count reads every row of the key here (2,000, under the cap): a sequential scan is as
    # good a way as any at this size. A page reads 51 rows of 2,120.
    pages = [sql for sql in log_reads if "COUNT(" not in sql]
    assert len(pages) == 2
    for sql in pages:
        plan = plan_of(sql)
        assert indexes_in(plan) == {KEY_INDEX}, plan
        assert "Sort" not in plan and "TEMP B-TREE" not in plan, plan


def test_pruning_deletes_exactly_the_rows_older_than_its_moment_whatever_their_key(alice, alice_key):
    busy, _ = alice_key
    quiet, _ = make_key(alice, name="Quiet")
    now = timezone.now()
    log_spread(busy, 900, now - timedelta(days=120), now)
    log_spread(quiet, 90, now - timedelta(days=119, minutes=7), now - timedelta(minutes=7))
    log_spread(busy, 30, now - timedelta(days=200), now - timedelta(days=100))  # late, old rows: high ids
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    moment = now - timedelta(days=90)
    kept = set(RequestLog.objects.filter(created_at__gte=moment).values_list("id", flat=True))
    old = RequestLog.objects.filter(created_at__lt=moment).count()
    assert 0 < old < RequestLog.objects.count()
    assert usage_prune(before=moment, batch_size=50) == old
    assert set(RequestLog.objects.values_list("id", flat=True)) == kept
