"""Limits and the request log under real concurrency: a gunicorn with several workers, on a
database of its own (PostgreSQL in CI's second pass, SQLite otherwise) and the run's cache."""
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from core.errors import PROBLEMS
from tests.live import ROOT, GunicornServer, live_gunicorn


# The shipped worker and gevent (config/gunicorn_conf.py, GUNICORN_WORKER_CLASS): under gevent
# the recorder's writer, the limit counters and psycopg run in greenlets of a patched library.
@pytest.fixture(scope="module", params=["threads", "gevent"])
def server(request, tmp_path_factory):
    with live_gunicorn(tmp_path_factory.mktemp("gunicorn"), workers=4,
                       env={"GUNICORN_WORKER_CLASS": request.param}) as live:
        live.admin_key = live.member_key("olivia", "Acme", "owner")
        yield live


def key_id(server, username) -> str:
    """Looked up by the admin, so the key itself has made no request (and is cached nowhere)."""
    keys = server.request("GET", "/api/v1/api-keys?scope=company&page_size=200", server.admin_key)[2]["items"]
    return next(k["id"] for k in keys if k["owner"]["username"] == username)


def logged_requests(server, key_id, expected, timeout=15.0) -> int:
    """Records in the request log for the key, once the workers' buffers have been written."""
    deadline = time.monotonic() + timeout
    while True:
        total = server.request("GET", f"/api/v1/api-keys/{key_id}/usage/requests?page_size=1", server.admin_key)[2][
            "total"
        ]
        if total >= expected or time.monotonic() > deadline:
            return total
        time.sleep(0.25)


def limited_key(server, username: str, request_limit: int) -> tuple[str, str]:
    """(raw key, id) of a new member's key with a daily request limit."""
    key = server.member_key(username, "Acme", "member")
    kid = key_id(server, username)
    status, _, body = server.request("PUT", f"/api/v1/api-keys/{kid}/limits", server.admin_key,
                                     {"request_limit": request_limit, "reset_period": "daily"})
    assert status == 200 and body["has_limits"], body
    return key, kid


def test_fifty_simultaneous_requests_at_a_limit_of_twenty_admit_exactly_twenty(server):
    key, kid = limited_key(server, "alice", 20)
    with ThreadPoolExecutor(max_workers=25) as pool:
        results = list(pool.map(lambda _: server.request("GET", "/api/v1/demo/echo", key), range(50)))
    statuses = [r[0] for r in results]
    assert statuses.count(200) == 20 and statuses.count(429) == 30, statuses
    refused = next(r for r in results if r[0] == 429)
    assert refused[2]["code"] == "request_limit_exceeded" and int(refused[1]["Retry-After"]) > 0
    assert logged_requests(server, kid, 50) == 50
    usage = server.request("GET", f"/api/v1/api-keys/{kid}/usage", server.admin_key)[2]
    assert (usage["total_requests"], usage["successful_requests"], usage["failed_requests"]) == (50, 20, 30)


def test_a_key_far_from_its_limit_counted_in_blocks_admits_exactly_its_limit(server):
    """At 1,000 with 4 workers a key is far from its limit for its first 200 requests (a worker's
    share of the room, an eighth, holds 100), which each worker admits from blocks it leased (of
    125 at most here); then request by request. A burst past the limit never admits one too many;
    blocks still held may refuse some early, until their workers give them back at a flush
    without use (0.5 s apart here), after which the rest is admitted to exactly the limit, and the
    limits show exactly what was admitted once the last block is settled."""
    key, kid = limited_key(server, "erin", 1000)
    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = [r[0] for r in pool.map(lambda _: server.request("GET", "/api/v1/demo/echo", key), range(1100))]
    admitted = statuses.count(200)
    assert 1000 - 4 * 125 <= admitted <= 1000 and statuses.count(429) == 1100 - admitted
    time.sleep(1.5)  # two flushes: every worker's idle block has gone back
    while server.request("GET", "/api/v1/demo/echo", key)[0] == 200:
        admitted += 1
    assert admitted == 1000
    deadline = time.monotonic() + 5
    while used(server, kid) != 1000 and time.monotonic() < deadline:
        time.sleep(0.1)  # the last uses of a block are settled at its worker's next flush
    assert used(server, kid) == 1000


def used(server, kid) -> int:
    return server.request("GET", f"/api/v1/api-keys/{kid}/limits", server.admin_key)[2]["limits"]["requests_used"]


def test_a_graceful_restart_in_the_middle_of_a_load_loses_no_record(server):
    key = server.member_key("bob", "Acme", "member")
    kid = key_id(server, "bob")
    sent = 400

    def call(n):
        if n == sent // 3:
            server.reload()
        return server.request("GET", "/api/v1/me", key)[0]

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(call, range(sent)))
    assert statuses.count(200) == sent, {s: statuses.count(s) for s in set(statuses)}
    assert logged_requests(server, kid, sent) == sent


def test_gunicorn_removes_the_metrics_directory_it_made_when_it_stops(tmp_path):
    """Each start makes a directory for the workers' metric files; a server started and stopped
    every day must not leave one behind each time."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    with live_gunicorn(tmp_path, workers=1, env={"TMPDIR": str(scratch)}) as live:
        assert [p.name[:17] for p in scratch.iterdir()] == ["keyhouse-metrics-"]
        assert live.request("GET", "/healthz")[0] == 200
    assert list(scratch.iterdir()) == []


def test_gunicorn_removes_the_metrics_directory_a_killed_server_left(tmp_path):
    """A master killed outright (SIGKILL) never removes its directory: the next start removes
    it once its process is gone, and leaves a running server's alone."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    finished = subprocess.Popen(["true"])
    finished.wait()  # reaped: no process has its pid now
    dead = scratch / f"keyhouse-metrics-{finished.pid}-x1"
    alive = scratch / f"keyhouse-metrics-{os.getpid()}-x2"  # this test's own process: running
    for made in (dead, alive):
        made.mkdir()
        (made / "counter_1.db").write_bytes(b"counts")
    with live_gunicorn(tmp_path, workers=1, env={"TMPDIR": str(scratch)}) as live:
        assert live.request("GET", "/healthz")[0] == 200
        assert not dead.exists()
        assert (alive / "counter_1.db").read_bytes() == b"counts"
    assert [p.name for p in scratch.iterdir()] == [alive.name]


def test_the_management_limit_is_one_count_across_workers(tmp_path):
    """Two workers, a management limit of 5 a minute: 5 of 12 simultaneous /me calls pass, each
    with its own place in the count, whichever worker answers; the rest get the 429 problem."""
    quota, sent = 5, 12
    with live_gunicorn(tmp_path, workers=2, env={"MANAGEMENT_REQUESTS_PER_MINUTE": str(quota)}) as live:
        key = live.member_key("alice", "Acme", "member")
        if time.time() % 60 > 50:  # the window is the clock's minute: keep the burst inside one
            time.sleep(61 - time.time() % 60)
        with ThreadPoolExecutor(max_workers=sent) as pool:
            results = list(pool.map(lambda _: live.request("GET", "/api/v1/me", key), range(sent)))
    admitted = [headers for status, headers, _ in results if status == 200]
    refused = [(headers, body) for status, headers, body in results if status == 429]
    assert (len(admitted), len(refused)) == (quota, sent - quota), [r[0] for r in results]
    remaining = sorted(int(h["RateLimit"].split(";r=")[1].split(";")[0]) for h in admitted)
    assert remaining == list(range(quota))  # 4, 3, 2, 1, 0: one count, not one per worker
    assert all(f";q={quota};" in h["RateLimit-Policy"] for h in admitted)
    for headers, body in refused:
        assert headers["Content-Type"] == "application/problem+json"
        assert (body["status"], body["code"]) == (429, "management_rate_limit_exceeded")
        assert body["type"] == PROBLEMS["management_rate_limit_exceeded"].type_uri and body["instance"]
        assert body["violated-policies"] == ["management"]
        assert 0 < int(headers["Retry-After"]) <= 60 and ";r=0;" in headers["RateLimit"]


def test_management_leases_of_several_requests_never_pass_the_limit_across_workers(tmp_path):
    """Two workers leasing blocks of up to 10 requests (the limit over twice one worker): 90
    simultaneous /me calls against a limit of 40 admit at most 40, and no two admitted answers
    report the same remaining (blocks are disjoint shares of one count)."""
    quota, sent = 40, 90
    env = {"MANAGEMENT_REQUESTS_PER_MINUTE": str(quota), "MANAGEMENT_LEASE_MAX_BLOCK": "10",
           "MANAGEMENT_LEASE_WORKERS": "1"}
    with live_gunicorn(tmp_path, workers=2, env=env) as live:
        key = live.member_key("alice", "Acme", "member")
        if time.time() % 60 > 45:  # the window is the clock's minute: keep the burst inside one
            time.sleep(61 - time.time() % 60)
        with ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(lambda _: live.request("GET", "/api/v1/me", key), range(sent)))
    statuses = [status for status, _, _ in results]
    assert set(statuses) <= {200, 429} and 0 < statuses.count(200) <= quota
    remaining = [int(h["RateLimit"].split(";r=")[1].split(";")[0]) for status, h, _ in results if status == 200]
    assert len(set(remaining)) == len(remaining) and max(remaining) < quota


def test_under_gevent_a_client_that_never_finishes_its_head_stalls_no_one(tmp_path):
    """One worker: a connection idle half-way through its head holds a greenlet, not the worker;
    a head far over gunicorn's limits is refused with the API's problem and closed, not read for ever."""
    with live_gunicorn(tmp_path, workers=1, cache_url="", env={"GUNICORN_WORKER_CLASS": "gevent"}) as live:
        with socket.create_connection(("127.0.0.1", live.port), timeout=5) as idle:
            idle.sendall(b"GET /api/v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            assert live.request("GET", "/api/v1/me")[0] == 401
            # Served while the idle connection is still open and unanswered: the worker did not
            # wait for it (one sync thread answers no one until that connection times out).
            idle.setblocking(False)
            with pytest.raises(BlockingIOError):
                idle.recv(1)
        with socket.create_connection(("127.0.0.1", live.port), timeout=5) as hostile:
            hostile.sendall(b"GET /api/v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: " + b"a" * 70_000 + b"\r\n\r\n")
            answer = b""
            while chunk := hostile.recv(65536):
                answer += chunk
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.split(b" ", 2)[1] == b"431" and b"Content-Type: application/problem+json" in head
            problem = json.loads(body)
            assert (problem["status"], problem["code"]) == (431, "request_header_too_large")
            assert problem["type"].endswith("/api/problems/request_header_too_large")  # no head to read a host from


def test_an_unknown_worker_class_stops_gunicorn_with_the_choices(tmp_path):
    live = GunicornServer(tmp_path, workers=1, cache_url="", env={"GUNICORN_WORKER_CLASS": "tornado"})
    try:
        live.manage("migrate", "--noinput", "-v0")
        result = subprocess.run([sys.executable, "-m", "gunicorn", "--config", "config/gunicorn_conf.py",
                                 "config.wsgi"], cwd=ROOT, env=live.env, capture_output=True, text=True, timeout=60)
    finally:
        live.stop()  # drops its PostgreSQL database, if it made one
    assert result.returncode != 0
    assert "GUNICORN_WORKER_CLASS must be one of threads, gevent, gthread, sync, not 'tornado'" in result.stderr
