"""Real gunicorn servers for parts 3 to 5, on the two stacks Keyhouse supports, and the
evidence they leave: their log and every row of their database."""
import os
import re
import shlex
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from urllib.parse import urlsplit

from tests.live import GunicornServer, live_gunicorn, request
from tests.postgres_server import OwnPostgres
from tests.redis_server import OwnRedis

# The shared services of the machine; each server gets a database of its own on them. When
# nothing answers there (a bare machine), the run starts a PostgreSQL and a Redis of its own.
SHARED_POSTGRES = os.environ.get("VERIFY_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
SHARED_REDIS = os.environ.get("VERIFY_REDIS_URL", "redis://127.0.0.1:6379/2")
# gunicorn's access log naming the worker that answered each request and its User-Agent, so a
# test that tags requests there can tell which worker answered which (gunicorn_conf's format
# has neither).
WORKER_ACCESS_LOG = {"GUNICORN_CMD_ARGS": "--access-logformat " + shlex.quote('%(p)s %(s)s "%(a)s"')}
# The live parts' stacks; the `stacks` fixture gives each one's (DATABASE_URL, CACHE_URL).
STACKS = ("postgres+redis", "sqlite+local-memory")


def answers(url: str) -> bool:
    """Whether something listens at the URL's host and port: a refused connect is quick."""
    address = urlsplit(url)
    try:
        with socket.create_connection((address.hostname, address.port), timeout=1):
            return True
    except OSError:
        return False


@contextmanager
def shared_services():
    """(PostgreSQL URL, Redis URL): the machine's where they answer, else the run's own."""
    postgres = redis = None
    try:
        if not answers(SHARED_POSTGRES):
            postgres = OwnPostgres()
            postgres.start()
        if not answers(SHARED_REDIS):
            redis = OwnRedis()
            redis.start()
        yield (postgres.url if postgres else SHARED_POSTGRES), (redis.url if redis else SHARED_REDIS)
    finally:
        if redis:
            redis.stop()
        if postgres:
            postgres.destroy()


@contextmanager
def serving(tmp_path, database_url: str, cache_url: str, workers: int = 4, owner: str = "olivia",
            **options) -> Iterator[GunicornServer]:
    """tests.live.live_gunicorn, whose keys the secrets scan knows, with an owner's key as
    admin_key. options: GunicornServer's own (env)."""
    from tests.verify.conftest import EVIDENCE

    with live_gunicorn(tmp_path, workers=workers, database_url=database_url, cache_url=cache_url,
                       **options) as server:
        issue = server.member_key

        def member_key(*args):
            raw = issue(*args)
            EVIDENCE.secret(raw)  # printed once by issuekey, the operator's "response" that created it
            return raw

        server.member_key = member_key
        server.admin_key = server.member_key(owner, "Acme", "owner")
        yield server


def sql(server, query: str, params=()) -> list[tuple]:
    """Read the server's own database directly, as an operator would."""
    if server.database_url.startswith("sqlite"):
        with sqlite3.connect(server.database_url.removeprefix("sqlite:///"), timeout=30) as conn:
            return conn.execute(query.replace("%s", "?"), params).fetchall()
    import psycopg

    with psycopg.connect(server.database_url.replace("postgres://", "postgresql://", 1)) as conn:
        return conn.execute(query, params).fetchall()


def tables(server) -> list[str]:
    if server.database_url.startswith("sqlite"):
        return [r[0] for r in sql(server, "SELECT name FROM sqlite_master WHERE type = 'table'")]
    return [r[0] for r in sql(server, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]


def keep_evidence(server, evidence, name: str) -> None:
    """Every row of every table and the whole gunicorn log, for the secrets scan."""
    for table in tables(server):
        rows = sql(server, f'SELECT * FROM "{table}"')
        evidence.text(f"{name} table {table}", "\n".join(map(str, rows)))
    evidence.text(f"{name} gunicorn log", (server.tmp_path / "gunicorn.log").read_text(errors="replace"))


def key_id(server, username: str) -> str:
    keys = server.request("GET", "/api/v1/api-keys?scope=company&page_size=200", server.admin_key)[2]["items"]
    return next(k["id"] for k in keys if k["owner"]["username"] == username)


def timed(port: int, method: str, path: str, key: str, body=None) -> tuple[float, float, int, dict, dict]:
    """(sent at, answered at, status, headers, body) with the monotonic clock."""
    from tests.verify.conftest import EVIDENCE

    sent = time.monotonic()
    status, headers, data = request(port, method, path, key, body)
    answered = time.monotonic()
    EVIDENCE.response(f"live {method} {path} -> {status}", f"{headers}\n{data}")
    return sent, answered, status, headers, data


def burst(server, calls: list[tuple], threads: int) -> list[tuple]:
    """Run (method, path, key[, body]) calls from `threads` threads; results in call order."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(lambda call: timed(server.port, *call), calls))


def wait_for_log(server, api_key_id: str, expected: int, timeout: float = 20.0) -> int:
    """Rows of the request log for a key, once the workers' buffers have been written."""
    deadline = time.monotonic() + timeout
    while True:
        count = sql(server, "SELECT COUNT(*) FROM usage_requestlog WHERE api_key_id = %s",
                    (api_key_id.replace("-", "") if server.database_url.startswith("sqlite") else api_key_id,))[0][0]
        if count >= expected or time.monotonic() > deadline:
            return count
        time.sleep(0.25)


def worker_pids(server) -> set[int]:
    """The gunicorn master's children: its workers."""
    found = subprocess.run(["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True).stdout
    return {int(pid) for pid in found.split()}


def answered_by(server) -> dict[str, int]:
    """User-Agent -> pid of the worker that answered, from a WORKER_ACCESS_LOG server's log."""
    lines = (server.tmp_path / "gunicorn.log").read_text(errors="replace").splitlines()
    return {m[2]: int(m[1]) for m in map(re.compile(r'^<(\d+)> \d+ "(.*)"$').match, lines) if m}
