"""Part 3: limits and revocation under real concurrency: gunicorn with 4 workers, once on
PostgreSQL + Redis and once on SQLite + local memory, hammered from 32 client threads."""
import random
import threading
import time

import pytest

from tests.verify.live import STACKS, burst, keep_evidence, key_id, serving, timed, wait_for_log

pytestmark = pytest.mark.verify
PART = "3 concurrency"
THREADS = 32
REQUESTS = 200
REQUEST_LIMIT = 50
BUDGET = 20_000  # microcents: 20 premium requests, or 200 standard ones
PRICES = {"/api/v1/demo/echo": 100, "/api/v1/demo/report": 1000}  # standard, premium (USAGE_TIERS)
# With local memory each worker keeps its own copy of a verified key for API_KEY_LOCAL_SECONDS;
# with Redis every worker is told of the revocation before it returns.
REVOKE_GRACE = {"postgres+redis": 0.0, "sqlite+local-memory": 1.0}


@pytest.fixture(scope="module", params=STACKS)
def server(request, tmp_path_factory, evidence, stacks):
    database_url, cache_url = stacks[request.param]
    with serving(tmp_path_factory.mktemp("concurrency"), database_url, cache_url) as live:
        live.stack = request.param
        yield live
        keep_evidence(live, evidence, f"concurrency {request.param}")


def limited_key(server, username: str, limits: dict) -> tuple[str, str]:
    raw = server.member_key(username, "Acme", "member")
    kid = key_id(server, username)
    status, _, body = server.request("PUT", f"/api/v1/api-keys/{kid}/limits", server.admin_key,
                                     {"reset_period": "daily", **limits})
    assert status == 200 and body["has_limits"], body
    return raw, kid


def test_two_hundred_requests_at_a_limit_of_fifty_admit_exactly_fifty(server, figures):
    raw, kid = limited_key(server, "alice", {"request_limit": REQUEST_LIMIT})
    results = burst(server, [("GET", "/api/v1/demo/echo", raw)] * REQUESTS, THREADS)
    figures.sent(PART, REQUESTS)
    statuses = [r[2] for r in results]
    figures.fact(PART, f"admitted/limit {server.stack}", f"{statuses.count(200)}/{REQUEST_LIMIT}")
    assert statuses.count(200) == REQUEST_LIMIT and statuses.count(429) == REQUESTS - REQUEST_LIMIT, \
        {s: statuses.count(s) for s in set(statuses)}
    assert all(r[4]["code"] == "request_limit_exceeded" for r in results if r[2] == 429)
    assert wait_for_log(server, kid, REQUESTS) == REQUESTS
    limits = server.request("GET", f"/api/v1/api-keys/{kid}/limits", server.admin_key)[2]["limits"]
    assert limits["requests_used"] == REQUEST_LIMIT


def test_a_budget_admits_mixed_costs_up_to_the_budget_and_no_further(server, figures):
    raw, kid = limited_key(server, "bob", {"budget_limit_microcents": BUDGET})
    rng = random.Random(7)
    calls = [("GET", "/api/v1/demo/echo", raw) if rng.random() < 0.5 else
             ("POST", "/api/v1/demo/report", raw, {"title": "Monthly numbers"}) for _ in range(REQUESTS)]
    results = burst(server, calls, THREADS)
    figures.sent(PART, REQUESTS)
    admitted = [call for call, r in zip(calls, results, strict=True) if r[2] == 200]
    refused = [call for call, r in zip(calls, results, strict=True) if r[2] == 429]
    assert len(admitted) + len(refused) == REQUESTS, {r[2] for r in results}
    spent = sum(PRICES[call[1]] for call in admitted)
    figures.fact(PART, f"budget spent/limit {server.stack}", f"{spent}/{BUDGET}")
    assert spent <= BUDGET
    # Refusals are only ever for lack of budget: once a price was refused, less than it was left.
    for price in {PRICES[call[1]] for call in refused}:
        assert BUDGET - spent < price, (spent, price)
    assert all(r[4]["code"] == "budget_limit_exceeded" for r in results if r[2] == 429)
    limits = server.request("GET", f"/api/v1/api-keys/{kid}/limits", server.admin_key)[2]["limits"]
    assert limits["spend_used_microcents"] == spent and limits["requests_used"] == len(admitted)
    assert wait_for_log(server, kid, REQUESTS) == REQUESTS
    usage = server.request("GET", f"/api/v1/api-keys/{kid}/usage", server.admin_key)[2]
    assert usage["total_spend_microcents"] == spent, usage


def test_a_key_revoked_during_a_burst_is_refused_by_every_worker(server, figures):
    raw = server.member_key("carol", "Acme", "member")
    kid = key_id(server, "carol")
    grace = REVOKE_GRACE[server.stack]
    revoked, results, lock = {}, [], threading.Lock()

    def hammer():
        while "at" not in revoked or time.monotonic() < revoked["at"] + grace + 1.5:
            result = timed(server.port, "GET", "/api/v1/me", raw)
            with lock:
                results.append(result)

    threads = [threading.Thread(target=hammer) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)  # the key is cached in every worker by now
    revoking = time.monotonic()
    status = server.request("DELETE", f"/api/v1/api-keys/{kid}", server.admin_key)[0]
    revoked["at"] = time.monotonic()
    for thread in threads:
        thread.join(timeout=60)
    assert status == 204
    figures.sent(PART, len(results) + 1)
    late = [(round(sent - revoked["at"], 3), status) for sent, _, status, *_ in results
            if status == 200 and sent > revoked["at"] + grace]
    last_admitted = max((sent - revoked["at"] for sent, _, status, *_ in results if status == 200), default=0)
    figures.fact(PART, f"last admission after revoke {server.stack}", f"{last_admitted:+.3f}s (allowed {grace}s)")
    assert not late, f"admitted after the revoke returned (+{grace}s): {late[:10]}"
    after = [status for sent, _, status, *_ in results if sent > revoked["at"] + grace]
    assert len(after) > THREADS and set(after) == {401}, set(after)
    # Answered before the revoke was even sent: a revoke takes a while on a busy machine.
    before = [status for _, answered, status, *_ in results if answered < revoking]
    assert before and set(before) == {200}
