"""Part 11: /metrics under load adds up. A real gunicorn with 2 workers (prometheus_client's
multiprocess mode) serves allowed, over-limit and unknown-key requests from 16 threads; the
scrape afterwards must count exactly what was sent, across both workers."""
import http.client
import re
import time

import pytest

from tests.live import live_gunicorn
from tests.verify.live import burst, sql
from tests.verify.test_concurrency import limited_key

pytestmark = pytest.mark.verify
PART = "11 metrics"
TOKEN = "verify-metrics-token"
LIMIT, OVER, ALLOWED, UNKNOWN = 30, 70, 50, 20
SAMPLE = re.compile(r"^(\w+)(?:\{(.*)\})? (\S+)$")


@pytest.fixture(scope="module")
def server(tmp_path_factory, evidence):
    with live_gunicorn(tmp_path_factory.mktemp("metrics"), workers=2, database_url="", cache_url="",
                       env={"METRICS_TOKEN": TOKEN}) as live:
        live.admin_key = live.member_key("olivia", "Acme", "owner")
        evidence.secret(live.admin_key)
        yield live


def scrape(server) -> dict[tuple[str, str], float]:
    """{(metric, labels): value} of one scrape."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    response = conn.getresponse()
    server.scrapes = getattr(server, "scrapes", 0) + 1
    assert response.status == 200
    samples = {}
    for line in response.read().decode().splitlines():
        if (match := SAMPLE.match(line)) is not None:
            samples[(match[1], match[2] or "")] = float(match[3])
    conn.close()
    return samples


def settled(server) -> dict:
    """A scrape once every worker has written its request log (USAGE_FLUSH_SECONDS)."""
    for _ in range(40):
        samples = scrape(server)
        if samples.get(("keyhouse_usage_backlog", "")) == 0:
            return samples
        time.sleep(0.25)
    raise AssertionError(f"the request log backlog never emptied: {samples}")


def grew(before: dict, after: dict, metric: str, labels: str = "") -> float:
    return after.get((metric, labels), 0.0) - before.get((metric, labels), 0.0)


def test_the_counters_add_up_to_the_requests_sent(server, figures, evidence):
    limited, kid = limited_key(server, "alice", {"request_limit": LIMIT})
    evidence.secret(limited)
    before = settled(server)
    scrapes_before = server.scrapes
    records_before = sql(server, "SELECT COUNT(*) FROM usage_requestlog")[0][0]
    calls = (
        [("GET", "/api/v1/demo/echo", limited)] * (LIMIT + OVER)
        + [("GET", "/api/v1/me", server.admin_key)] * ALLOWED
        + [("GET", "/api/v1/me", "sk_live_" + "A" * 40)] * UNKNOWN
    )
    sent = len(calls)
    results = burst(server, calls, 16)
    statuses = [r[2] for r in results]
    assert (statuses.count(200), statuses.count(429), statuses.count(401)) == (LIMIT + ALLOWED, OVER, UNKNOWN)
    figures.sent(PART, sent + 2)
    logged = LIMIT + OVER + ALLOWED  # a key nobody holds has no log to be written to
    after = settled(server)
    scrapes_between = server.scrapes - scrapes_before  # each timed after its own answer was made

    outcomes = {labels.split('"')[1]: grew(before, after, "keyhouse_key_verifications_total", labels)
                for (metric, labels) in after if metric == "keyhouse_key_verifications_total"}
    assert outcomes["valid"] == LIMIT + ALLOWED
    assert outcomes["request_limit_exceeded"] == OVER
    assert sum(outcomes.values()) == sent
    assert grew(before, after, "keyhouse_refusals_total", 'code="request_limit_exceeded",status="429"') == OVER, \
        [sample for sample in after if sample[0] == "keyhouse_refusals_total"]
    # Every request, and the scrapes, each timed once its answer is made.
    assert grew(before, after, "keyhouse_request_duration_seconds_count") == sent + scrapes_between
    written = grew(before, after, "keyhouse_usage_records_total", 'fate="written"')
    assert written == logged
    assert sql(server, "SELECT COUNT(*) FROM usage_requestlog")[0][0] - records_before == logged
    assert after[("keyhouse_usage_backlog", "")] == 0
    assert grew(before, after, "keyhouse_usage_records_total", 'fate="set_aside"') == 0
    figures.fact(PART, "verifications counted/sent", f"{int(sum(outcomes.values()))}/{sent}")
    figures.fact(PART, "records counted/written", f"{int(written)}/{logged}")
