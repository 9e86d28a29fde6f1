"""Part 4: 20,000 keyed requests at concurrency 16 across three keys, on gunicorn (4 workers)
with PostgreSQL and Redis: no 5xx, exactly one log record per request, and the hourly rollups
and the limit counters equal to the log."""
import os
import statistics
import threading
import time

import pytest

from tests.verify.live import keep_evidence, key_id, serving, sql, timed, wait_for_log

pytestmark = pytest.mark.verify
PART = "4 load"
TOTAL = int(os.environ.get("VERIFY_LOAD_REQUESTS", "20000"))
CONCURRENCY = 16
# (username, route, body, limits): a free route without limits, a standard one under a request
# limit, a premium one under a budget; both limits far above what the run uses.
KEYS = [
    ("lena", "GET", "/api/v1/me", None, None, 0),
    ("mark", "GET", "/api/v1/demo/echo", None, {"request_limit": 1_000_000}, 100),
    ("nina", "POST", "/api/v1/demo/report", {"title": "Load"}, {"budget_limit_microcents": 10**12}, 1000),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory, evidence, stacks):
    with serving(tmp_path_factory.mktemp("load"), *stacks["postgres+redis"]) as live:
        yield live
        keep_evidence(live, evidence, "load")


def test_twenty_thousand_requests_lose_nothing(server, figures, evidence):
    keys = []
    for username, method, path, body, limits, price in KEYS:
        raw = server.member_key(username, "Acme", "member")
        kid = key_id(server, username)
        if limits:
            assert server.request("PUT", f"/api/v1/api-keys/{kid}/limits", server.admin_key,
                                  {"reset_period": "monthly", **limits})[0] == 200
        keys.append((raw, kid, method, path, body, price))

    counter = iter(range(TOTAL))
    lock = threading.Lock()
    results = []

    def worker():
        mine = []
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                break
            raw, kid, method, path, body, _ = keys[n % len(keys)]
            sent, answered, status, _, data = timed(server.port, method, path, raw, body)
            mine.append((n % len(keys), status, answered - sent))
        with lock:
            results.extend(mine)

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    figures.sent(PART, len(results))

    latencies = sorted(r[2] * 1000 for r in results)
    p50, p99 = statistics.median(latencies), latencies[int(len(latencies) * 0.99) - 1]
    statuses = {s: sum(1 for r in results if r[1] == s) for s in {r[1] for r in results}}
    figures.fact(PART, "throughput", f"{len(results) / elapsed:.0f} req/s")
    figures.fact(PART, "p50/p99", f"{p50:.1f}/{p99:.1f} ms")
    figures.fact(PART, "statuses", statuses)
    assert len(results) == TOTAL and statuses == {200: TOTAL}, statuses

    records_total = 0
    for index, (_raw, kid, _method, path, _body, price) in enumerate(keys):
        sent = sum(1 for r in results if r[0] == index)
        records = wait_for_log(server, kid, sent)
        records_total += records
        db_id = kid
        log = sql(server, "SELECT COUNT(*), COALESCE(SUM(cost_microcents), 0) FROM usage_requestlog "
                          "WHERE api_key_id = %s", (db_id,))[0]
        rollup = sql(server, "SELECT COALESCE(SUM(requests), 0), COALESCE(SUM(spend_microcents), 0) "
                             "FROM usage_usagerollup WHERE api_key_id = %s", (db_id,))[0]
        assert (records, log[0]) == (sent, sent), f"{path}: {records} records for {sent} requests"
        assert log[1] == sent * price
        assert tuple(map(int, rollup)) == (sent, sent * price), (path, rollup, log)
        usage = server.request("GET", f"/api/v1/api-keys/{kid}/usage", server.admin_key)[2]
        assert (usage["total_requests"], usage["total_spend_microcents"]) == (sent, sent * price)
        limits = server.request("GET", f"/api/v1/api-keys/{kid}/limits", server.admin_key)[2]["limits"]
        if limits:
            assert (limits["requests_used"], limits["spend_used_microcents"]) == (sent, sent * price), limits
    figures.fact(PART, "records/requests", f"{records_total}/{len(results)}")
