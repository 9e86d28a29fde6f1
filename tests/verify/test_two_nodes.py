"""Part 9: two nodes of one deployment, as behind a load balancer: two gunicorn masters, each
with its own workers, on one PostgreSQL database and one Redis. A key revoked through one node
is refused by the other at its next request; a request limit admits exactly its number across
both; the request log holds every request either node answered, once."""
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.clients import PROBLEM_MEMBERS
from tests.live import GunicornServer, live_gunicorn
from tests.verify.live import SHARED_POSTGRES, keep_evidence, key_id, serving, sql, timed

pytestmark = pytest.mark.verify
PART = "9 two nodes"
WORKERS = 2  # per node: four worker processes on a 2-core machine
THREADS = 32
REQUESTS = 100
REQUEST_LIMIT = 40
LOG_REQUESTS = 400


class Deployment:
    """Node A (which made the database) and node B (which joined it), and how many requests
    the test sent with each member key, to compare with the request log."""

    def __init__(self, a: GunicornServer, b: GunicornServer):
        self.a, self.b = a, b
        self.sent: Counter = Counter()  # key id -> requests
        self._lock = threading.Lock()

    def call(self, node, kid: str, method: str, path: str, key: str, body=None):
        result = timed(node.port, method, path, key, body)
        with self._lock:
            self.sent[kid] += 1
        return result

    def burst(self, calls: list[tuple], threads: int = THREADS) -> list[tuple]:
        """(node, key id, method, path, key) calls from `threads` threads; results in call order."""
        with ThreadPoolExecutor(max_workers=threads) as pool:
            return list(pool.map(lambda call: self.call(*call), calls))


@pytest.fixture(scope="module")
def nodes(tmp_path_factory, evidence, stacks, figures):
    database_url, cache_url = stacks["postgres+redis"]
    figures.fact(PART, "services", "the machine's" if database_url == SHARED_POSTGRES else "the run's own")
    with (serving(tmp_path_factory.mktemp("node-a"), database_url, cache_url, workers=WORKERS) as a,
          live_gunicorn(tmp_path_factory.mktemp("node-b"), workers=WORKERS, database_url=a.database_url,
                        cache_url=cache_url, new_database=False) as b):
        b.admin_key = a.admin_key
        yield Deployment(a, b)
        keep_evidence(a, evidence, "two nodes")  # the tables are both nodes'
        evidence.text("two nodes: node B gunicorn log", b.log_path.read_text(errors="replace"))


def member_key(nodes, username: str, limits: dict | None = None) -> tuple[str, str]:
    raw = nodes.a.member_key(username, "Acme", "member")
    kid = key_id(nodes.a, username)
    if limits:
        status, _, body = nodes.a.request("PUT", f"/api/v1/api-keys/{kid}/limits", nodes.a.admin_key,
                                          {"reset_period": "daily", **limits})
        assert status == 200 and body["has_limits"], body
    return raw, kid


def error_code(result) -> str:
    """The code of an answer in the one error shape; fails on any other shape."""
    _, _, status, headers, body = result
    assert headers.get("Content-Type", "") == "application/problem+json", (status, headers)
    assert set(body) >= PROBLEM_MEMBERS and body["status"] == status, body
    return body["code"]


def test_a_key_revoked_through_one_node_is_refused_by_the_other_at_once(nodes, figures):
    """B is hammered from 8 threads while A revokes the key; once B has answered 32 of them,
    its workers hold copies of the key, and Redis a shared entry. No request B receives after
    the revoke returned is admitted."""
    raw, kid = member_key(nodes, "rita")
    revoked, results, lock = {}, [], threading.Lock()

    def hammer():
        while "at" not in revoked or time.monotonic() < revoked["at"] + 1.0:
            result = nodes.call(nodes.b, kid, "GET", "/api/v1/me", raw)
            with lock:
                results.append(result)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(results) < 4 * len(threads):  # B's workers have answered the key: they hold copies
        assert time.monotonic() < deadline, "B answered too few requests to hold copies"
        time.sleep(0.05)
    revoking = time.monotonic()
    status = nodes.a.request("DELETE", f"/api/v1/api-keys/{kid}", nodes.a.admin_key)[0]
    revoked["at"] = time.monotonic()
    for thread in threads:
        thread.join(timeout=60)
    figures.sent(PART, len(results) + 1)
    assert status == 204
    before = [r[2] for r in results if r[1] < revoking]  # answered before the revoke was sent
    assert before and set(before) == {200}, Counter(before)
    after = sorted((r for r in results if r[0] > revoked["at"]), key=lambda r: r[0])
    assert after, "no request reached B after the revoke"
    assert {r[2] for r in after} == {401}, Counter(r[2] for r in after)
    assert {error_code(r) for r in after} == {"revoked_api_key"}
    last = max(r[0] - revoked["at"] for r in results if r[2] == 200)
    figures.fact(PART, "revoked through A, refused by B",
                 f"next request +{after[0][0] - revoked['at']:.3f}s: 401 revoked_api_key, "
                 f"{len(after)}/{len(after)} after it; last admission {last:+.3f}s; "
                 f"the revoke took {revoked['at'] - revoking:.3f}s")


def test_a_request_limit_admits_exactly_its_number_across_both_nodes(nodes, figures):
    raw, kid = member_key(nodes, "lara", {"request_limit": REQUEST_LIMIT})
    calls = [(nodes.a if i % 2 else nodes.b, kid, "GET", "/api/v1/demo/echo", raw) for i in range(REQUESTS)]
    results = nodes.burst(calls)
    figures.sent(PART, REQUESTS)
    statuses = [r[2] for r in results]
    assert statuses.count(200) == REQUEST_LIMIT and statuses.count(429) == REQUESTS - REQUEST_LIMIT, Counter(statuses)
    assert {error_code(r) for r in results if r[2] == 429} == {"request_limit_exceeded"}
    for node in (nodes.a, nodes.b):
        limits = node.request("GET", f"/api/v1/api-keys/{kid}/limits", node.admin_key)[2]["limits"]
        assert limits["requests_used"] == REQUEST_LIMIT, limits
    by_node = Counter("A" if call[0] is nodes.a else "B" for call, r in zip(calls, results, strict=True) if r[2] == 200)
    figures.fact(PART, "admitted/limit across nodes",
                 f"{statuses.count(200)}/{REQUEST_LIMIT} (A {by_node['A']}, B {by_node['B']}) of {REQUESTS}")


def test_the_request_log_holds_every_request_either_node_answered(nodes, figures):
    """Each worker of each node writes its buffered records every USAGE_FLUSH_SECONDS; after
    that, the log holds exactly one row per request sent with each key of this module."""
    raw, kid = member_key(nodes, "lotte")
    results = nodes.burst([(nodes.a if i % 2 else nodes.b, kid, "GET", "/api/v1/me", raw) for i in range(LOG_REQUESTS)])
    figures.sent(PART, LOG_REQUESTS)
    assert {r[2] for r in results} == {200}
    flush = float(nodes.a.env["USAGE_FLUSH_SECONDS"])
    expected = sum(nodes.sent.values())
    deadline = time.monotonic() + 20
    while (logged := log_rows(nodes)) != nodes.sent and time.monotonic() < deadline:
        time.sleep(flush)
    time.sleep(2 * flush)  # a record written twice would show by now
    logged = log_rows(nodes)
    assert logged == nodes.sent, {k: (logged[k], n) for k, n in nodes.sent.items() if logged[k] != n}
    rollups = sql(nodes.a, "SELECT COALESCE(SUM(requests), 0) FROM usage_usagerollup "
                           "WHERE api_key_id = ANY(%s::uuid[])", (list(nodes.sent),))[0][0]
    assert int(rollups) == expected
    figures.fact(PART, "records/requests", f"{sum(logged.values())}/{expected}")


def log_rows(nodes) -> Counter:
    rows = sql(nodes.a, "SELECT api_key_id::text, COUNT(*) FROM usage_requestlog WHERE api_key_id = ANY(%s::uuid[]) "
                        "GROUP BY api_key_id", (list(nodes.sent),))
    return Counter(dict(rows))
