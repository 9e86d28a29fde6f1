"""`make bench`: what a keyed request costs, against floors and a control served in the same run.

For SQLite, then for PostgreSQL + Redis when both are reachable, it starts one gunicorn with
the shipped config (tests/bench/gunicorn_conf.py: config/gunicorn_conf.py without the access
log; 2 workers) on a seeded database, and drives each row for BENCH_SECONDS (3) in interleaved
rounds, each row between two runs of the control (a). A window ends only once the request log
it caused is written (the workers' backlog, read from /metrics, is zero), so no row's writes
land in the next one's window; beside req/s it reads the server's CPU time from /proc over the
window: gunicorn's master and workers, their PostgreSQL backends, and Redis's own account.
Then it seeds 10k, 1M and 10M log rows, gives the planner its statistics as
autovacuum would (VACUUM ANALYZE; SQLite: ANALYZE; BENCH_ANALYZE=0 skips it) and times every
analytics call.

Knobs (environment): BENCH_ROUNDS, BENCH_SECONDS, BENCH_CONNECTIONS, BENCH_LOG_ROWS,
BENCH_SMALL_ROWS, BENCH_HUGE_ROWS, BENCH_BACKENDS=sqlite,postgres, BENCH_POSTGRES_URL,
BENCH_REDIS_URL (a database number of its own: it must be empty, and is flushed at the end),
BENCH_WORKERS (2), BENCH_WORKER_CLASS (config/gunicorn_conf.py's GUNICORN_WORKER_CLASS: threads,
the shipped default, gevent, gthread or sync), BENCH_VERIFY_PATH (the key verification
endpoint's path, once it exists; until then its row says "not measured").
"""
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from tests.bench import load
from tests.live import GunicornServer, request

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "3"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))
LOG_ROWS = int(os.environ.get("BENCH_LOG_ROWS", "1000000"))
SMALL_ROWS = int(os.environ.get("BENCH_SMALL_ROWS", "10000"))
HUGE_ROWS = int(os.environ.get("BENCH_HUGE_ROWS", "10000000"))
BACKENDS = os.environ.get("BENCH_BACKENDS", "sqlite,postgres").split(",")
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
WORKER_CLASS = os.environ.get("BENCH_WORKER_CLASS", "threads")
VERIFY_PATH = os.environ.get("BENCH_VERIFY_PATH", "")
ANALYTICS_SECONDS = 1  # latency of sequential calls; wrk takes whole seconds
ANALYTICS_ROUNDS = 3
ANALYZE = os.environ.get("BENCH_ANALYZE", "1") != "0"  # statistics after seeding the log, as autovacuum's
DEEP_PAGES = 100  # usage/requests: the page reached by following `next` this many times
DRAIN_TIMEOUT = 60
WARM_UP_LIMIT = 120  # seconds of warm-up a row gets at most to reach its steady state
WARM_STREAK = 5  # warm once this many requests per (worker, key) pair in a row met no cold lookup
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ANALYTICS = ("usage?days=90", "usage/by-tier?days=90", "usage/errors?days=90", "usage/timeseries?days=90",
             "usage/requests?days=90", "usage/requests?days=90 (page 101)", "company usage?days=90",
             "company usage/timeseries?days=90")
LOGGED = ("logged", "limited", "rotation")  # credentials whose requests Keyhouse logs
ONE_KEY, MANY_KEYS, LIMITED = ("(b1) Keyhouse key, logged, no limit", "(b1k) 2,000 keys in rotation, logged",
                               "(b2) Keyhouse key, logged, request limit")
MANAGEMENT = "(bm) Keyhouse key on /me, management"
# The control again, as a row: the same work as (a), so its ratio would be 1.00 on a quiet
# machine, and how far its min falls is how far this run's noise alone moves any row's min.
NOISE = "(a2) control again: this run's noise"
VERIFY = "(v)  verify endpoint, one key, logged"


@dataclass
class Row:
    label: str
    path: str
    credential: str  # "" (none) or the name of a seeded credential
    samples: list = field(default_factory=list)  # load.Result per round
    cpu_us: list = field(default_factory=list)  # per round: {"server": µs per request, "database": ..., "redis": ...}
    unmeasured: int = 0  # requests sent by the check and the warm-up
    warm_note: str = ""  # why its warm-up ended before its keys were all warm
    cold: list = field(default_factory=list)  # per round: key lookups not served by a worker's own copy, per request
    ratios: list = field(default_factory=list)  # req/s over the same round's control
    # The same round's control's server + database CPU per request over this row's: the
    # requests the same CPU serves, which moves less with the machine's noise than req/s.
    cpu_ratios: list = field(default_factory=list)

    def headers(self, creds: dict) -> dict | list[dict]:
        value = creds.get(self.credential)
        if self.credential == "rotation":
            return [{"API-Key": raw} for raw in value]
        if self.credential in LOGGED:
            return {"API-Key": value}
        if self.credential == "hasapikey":
            return {"Authorization": f"Api-Key {value}"}
        if self.credential == "token":
            return {"Authorization": f"Token {value}"}
        return {}


def rows() -> list[Row]:
    # The targets are about the customer's product traffic: a route that counts against the key's
    # own limits (usage/demo.py). /me is one of Keyhouse's management routes, which never touch
    # those limits but pay the management abuse limit's count instead: it has a row of its own.
    product, me = "/api/v1/demo/echo", "/api/v1/me"
    return [
        Row("(a)  control: DRF stack, no authentication", "/api/v1/bench/control", ""),
        Row(NOISE, "/api/v1/bench/control", ""),
        Row("(f0) floor: raw WSGI hello", "/bench/hello", ""),
        Row("(f1) floor: bare Django view", "/api/v1/bench/django", ""),
        Row(ONE_KEY, product, "logged"),
        Row(MANY_KEYS, product, "rotation"),
        Row(LIMITED, product, "limited"),
        Row(MANAGEMENT, me, "logged"),
        *([Row(VERIFY, VERIFY_PATH, "logged")] if VERIFY_PATH else []),
        Row("(c)  djangorestframework-api-key HasAPIKey", "/api/v1/bench/hasapikey/me", "hasapikey"),
        Row("(d)  DRF TokenAuthentication", "/api/v1/bench/token/me", "token"),
    ]


def say(*parts) -> None:
    print(*parts, file=sys.stderr, flush=True)


class Backend:
    """Where the bench server keeps its data: one seeded database."""

    title = ""
    cache_url = "locmemcache://keyhouse"

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.run_id = uuid.uuid4().hex[:8]

    def env(self) -> dict:
        env = dict(os.environ)
        env.update({
            "DJANGO_SETTINGS_MODULE": "tests.bench.settings",
            "DATABASE_URL": self.database_url(),
            "CACHE_URL": self.cache_url,
            "BENCH_CACHE_PREFIX": f"bench{self.run_id}",
            "DEBUG": "false",
            "API_KEY_PEPPER": "bench-pepper",
            "HOST": "127.0.0.1",
            "WEB_CONCURRENCY": str(WORKERS),
            "GUNICORN_WORKER_CLASS": WORKER_CLASS,
            "LOG_LEVEL": "WARNING",
            # /metrics tells when the workers' request-log backlog is written.
            "METRICS_ALLOWED_IPS": "127.0.0.1",
        })
        return env

    def python(self, *args: str) -> str:
        result = subprocess.run([sys.executable, *args], cwd=ROOT, env=self.env(), capture_output=True,
                                text=True, timeout=3600)
        if result.returncode:
            raise RuntimeError(f"{' '.join(args)} failed: {result.stderr[-3000:]}")
        return result.stdout.strip()

    def prepare(self) -> dict:
        self.python("manage.py", "migrate", "--noinput", "-v0")
        return json.loads(self.python("-m", "tests.bench.seed", "setup"))

    def database_pids(self) -> list[int]:
        return []  # SQLite runs inside the workers

    def redis_cpu(self) -> float | None:
        return None


class Sqlite(Backend):
    title = "SQLite (WAL) + per-worker local-memory cache"

    def database_url(self) -> str:
        return f"sqlite:///{self.tmp / 'bench.sqlite3'}"

    def cleanup(self) -> None:
        pass  # the temporary directory goes


class Postgres(Backend):
    title = "PostgreSQL + Redis (shared key cache, Redis counters)"

    def __init__(self, tmp: Path):
        super().__init__(tmp)
        self.cache_url = REDIS_URL
        self.created = []

    @staticmethod
    def reachable() -> str:
        """'' when PostgreSQL and Redis both answer and the bench's Redis database is empty, else why not."""
        try:
            import psycopg
            import redis

            psycopg.connect(POSTGRES_URL, connect_timeout=3).close()
            size = redis.Redis.from_url(REDIS_URL, socket_timeout=3).dbsize()
        except Exception as exc:  # any failure means: no second table
            return f"{type(exc).__name__}: {exc}".strip()
        if size:
            return f"{REDIS_URL} holds {size} keys: the bench flushes its database, so it needs one of its own"
        return ""

    def name(self) -> str:
        return f"keyhouse_bench_{self.run_id}"

    def database_url(self) -> str:
        return POSTGRES_URL.rsplit("/", 1)[0] + "/" + self.name()

    def admin(self, sql: str, *params) -> list:
        import psycopg

        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            cursor = conn.execute(sql, params or None)
            return cursor.fetchall() if cursor.description else []

    def prepare(self) -> dict:
        self.admin(f'CREATE DATABASE "{self.name()}"')
        self.created.append(self.name())
        return super().prepare()

    def database_pids(self) -> list[int]:
        return [pid for (pid,) in self.admin("SELECT pid FROM pg_stat_activity WHERE datname = %s", self.name())]

    def redis_cpu(self) -> float:
        """Redis's own account of its CPU seconds (user + system): it serves every client of
        this Redis, so on a shared machine this share is an upper bound."""
        import redis

        info = redis.Redis.from_url(REDIS_URL).info("cpu")
        return info["used_cpu_user"] + info["used_cpu_sys"]

    def cleanup(self) -> None:
        import redis

        for name in self.created:
            self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        client = redis.Redis.from_url(REDIS_URL)
        client.flushdb()  # the bench's own database number only
        say(f"{REDIS_URL}: flushed, {client.dbsize()} keys left")


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system, every thread) a process has used, from /proc; 0 once gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                found.append(int(entry.name))
    return found


class Server(GunicornServer):
    """tests.live's gunicorn with the bench's own config, app and settings, on the backend's
    database (migrated and seeded by Backend.prepare)."""

    def __init__(self, backend: Backend):
        super().__init__(backend.tmp, workers=WORKERS, database_url=backend.database_url(), new_database=False,
                         base_env=backend.env(), ready=("/api/v1/bench/control", 200, {}),
                         config="tests/bench/gunicorn_conf.py", app="tests.bench.wsgi", start_timeout=60)
        self.backend = backend

    def url(self, path: str) -> str:
        return self.base_url + path

    def cpu(self) -> dict:
        """CPU seconds so far, per process: gunicorn's master and workers, their database backends."""
        server = {pid: proc_cpu(pid) for pid in [self.process.pid, *children(self.process.pid)]}
        return {"server": server, "database": {pid: proc_cpu(pid) for pid in self.backend.database_pids()},
                "redis": self.backend.redis_cpu()}

    def scrape(self) -> str:
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", "/metrics")
            return conn.getresponse().read().decode()
        finally:
            conn.close()

    def metric(self, name: str) -> float:
        """The sum of a metric's series."""
        return sum(float(line.rsplit(" ", 1)[1]) for line in self.scrape().splitlines()
                   if line.startswith((name + " ", name + "{")))

    def lookups(self) -> tuple[float, float]:
        """Key lookups so far, from one scrape: (served by a worker's own copy, not: by Redis or
        the database)."""
        found = {result: 0.0 for result in ("local", "shared", "miss")}
        for line in self.scrape().splitlines():
            for result in found:
                if line.startswith(f'keyhouse_key_cache_lookups_total{{result="{result}"}} '):
                    found[result] = float(line.rsplit(" ", 1)[1])
        return found["local"], found["shared"] + found["miss"]

    def drain(self) -> None:
        """Wait until every request-log record is written: its cost belongs to this window."""
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while self.metric("keyhouse_usage_backlog") > 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the request log was not written within {DRAIN_TIMEOUT} s")
            time.sleep(0.05)



def cpu_used(before: dict, after: dict) -> dict:
    """CPU seconds between two Server.cpu() readings; a process that appeared meanwhile counts whole."""
    used = {
        part: sum(t - before[part].get(pid, 0.0) for pid, t in after[part].items()) for part in ("server", "database")
    }
    used["redis"] = None if after["redis"] is None else after["redis"] - before["redis"]
    return used


def check(server: Server, row: Row, creds: dict) -> None:
    headers = row.headers(creds)
    status, _, body = request(
        server.port, "GET", row.path, headers=headers[0] if isinstance(headers, list) else headers
    )
    if status != 200:
        raise RuntimeError(f"{row.label} answered {status}: {body}")


def drive(server: Server, row: Row, creds: dict) -> load.Result:
    """One window: the load for SECONDS, then until its request log is written; CPU over both."""
    before, (_, cold) = server.cpu(), server.lookups()
    result = load.run(server.url(row.path), row.headers(creds), SECONDS, CONNECTIONS)
    server.drain()
    used = cpu_used(before, server.cpu())
    row.cold.append((server.lookups()[1] - cold) / max(1, result.requests))
    if result.non2xx or result.errors:
        raise RuntimeError(f"{row.label}: {result.non2xx} non-2xx answers, {result.errors} socket errors")
    row.samples.append(result)
    row.cpu_us.append({part: None if seconds is None else seconds * 1e6 / result.requests
                       for part, seconds in used.items()})
    return result


def warm_up(server: Server, row: Row, creds: dict) -> None:
    """Load the row until its keys are in the workers' own copies: the rows measure the state
    after every key's first use and before any copy expires, not first uses. A copy lives
    API_KEY_CACHE_SECONDS (300 s) from the lookup that made it, longer than the measured rounds
    (about 3 minutes): a deployment also meets each (worker, key) pair cold once per that time,
    for (b1k) about 13 lookups a second. Each request goes to whichever worker accepted its
    connection, so the pairs are met unevenly: a count of 2 x workers x keys requests (8,016 for
    (b1k)) left up to 4 % of a measured window's lookups to Redis or the database, and one clean
    second proves little when a second meets each pair once at most. So: whole seconds of load
    until WARM_STREAK x workers x keys requests in a row found every key in a worker's copy."""
    headers, row.unmeasured = row.headers(creds), 1
    needed = WARM_STREAK * WORKERS * (len(headers) if isinstance(headers, list) else 1)
    deadline, streak = time.monotonic() + WARM_UP_LIMIT, 0
    started_local, cold = server.lookups()
    local = started_local
    while streak < needed:
        result = load.run(server.url(row.path), headers, 1, CONNECTIONS)
        if result.non2xx or result.errors:
            raise RuntimeError(f"{row.label} warming up: {result.non2xx} non-2xx answers, "
                               f"{result.errors} socket errors")
        row.unmeasured += result.requests
        # The last reading is the next baseline: lookups of requests in flight at a run's end count.
        local, now_cold = server.lookups()
        streak = streak + result.requests if now_cold == cold else 0
        cold = now_cold
        if time.monotonic() > deadline:
            row.warm_note = f"still meeting keys its workers had no copy of after {WARM_UP_LIMIT} s of warm-up"
            say(f"  {row.label}: {row.warm_note}")
            break
    if row.credential in LOGGED and local == started_local:
        raise RuntimeError(f"{row.label}: /metrics showed no key lookup served from a worker's copy while warming up, "
                           "so the warm-up and the cold column cannot be read (keyhouse_key_cache_lookups renamed?)")


def server_and_database(cpu: dict) -> float:
    return cpu["server"] + (cpu["database"] or 0)


def measure_throughput(server: Server, table: list[Row], creds: dict) -> None:
    """Each round runs every row once, each between two runs of the control, and a row's ratio
    for the round is its req/s over the mean of the two controls around it: on a shared,
    noisy machine that compares figures taken seconds apart."""
    control, others = table[0], table[1:]
    for row in table:
        check(server, row, creds)
        warm_up(server, row, creds)
    server.drain()
    for n in range(ROUNDS):
        # Rotate the order each round, so that no row always runs right after another.
        order = others[n % len(others):] + others[:n % len(others)]
        before, before_cpu = drive(server, control, creds), server_and_database(control.cpu_us[-1])
        for row in order:
            result = drive(server, row, creds)
            row_cpu = server_and_database(row.cpu_us[-1])
            after, after_cpu = drive(server, control, creds), server_and_database(control.cpu_us[-1])
            row.ratios.append(result.rps / ((before.rps + after.rps) / 2))
            row.cpu_ratios.append((before_cpu + after_cpu) / 2 / row_cpu)
            before, before_cpu = after, after_cpu
        control.ratios.append(1.0)
        control.cpu_ratios.append(1.0)
        say(f"  round {n + 1}/{ROUNDS}: " + ", ".join(f"{r.label.split()[0]} {r.ratios[-1]:.2f}" for r in table))


def deep_cursor(server: Server, creds: dict, size: str) -> tuple[str, int]:
    """The cursor of usage/requests' page DEEP_PAGES + 1, by following `next` as a client would."""
    path, cursor, pages = f"/api/v1/api-keys/{creds[size + '_key_id']}/usage/requests?days=90", "", 0
    while pages < DEEP_PAGES:
        status, _, body = request(server.port, "GET", path + (f"&cursor={cursor}" if cursor else ""),
                                  headers={"API-Key": creds[size + "_analyst"]})
        if status != 200 or not body.get("next"):
            break
        cursor, pages = body["next"], pages + 1
    return cursor, pages


def measure_analytics(server: Server, backend: Backend, creds: dict) -> dict:
    """p50 latency of every analytics call at each log size, interleaved; the ratio of each
    larger size to the smallest, per round."""
    sizes = {"small": SMALL_ROWS, "big": LOG_ROWS, **({"huge": HUGE_ROWS} if HUGE_ROWS else {})}
    seeded = {size: json.loads(backend.python("-m", "tests.bench.seed", "log", creds[size + "_key_id"], str(rows)))
              for size, rows in sizes.items()}
    # As autovacuum would before anyone reads a log this size (tests/bench/seed.py, analyze);
    # BENCH_ANALYZE=0 times the plans made without statistics, for comparison.
    analyzed = json.loads(backend.python("-m", "tests.bench.seed", "analyze")) if ANALYZE else None
    urls, depth = {}, {}
    for size in sizes:
        cursor, depth[size] = deep_cursor(server, creds, size)
        key = f"/api/v1/api-keys/{creds[size + '_key_id']}/"
        for call in ANALYTICS:
            if call.startswith("company "):
                urls[(call, size)] = "/api/v1/" + call.removeprefix("company ")
            elif "(page" in call:
                urls[(call, size)] = key + call.split(" ")[0] + f"&cursor={cursor}"
            else:
                urls[(call, size)] = key + call
    p50 = {k: [] for k in urls}
    for _ in range(ANALYTICS_ROUNDS):
        for call in ANALYTICS:
            for size in sizes:
                result = load.run(server.url(urls[(call, size)]), {"API-Key": creds[size + "_analyst"]},
                                  ANALYTICS_SECONDS, connections=1, threads=1)
                if result.non2xx or result.errors or not result.requests:
                    raise RuntimeError(f"{urls[(call, size)]}: {result}")
                p50[(call, size)].append(result.p50_ms)
    return {"sizes": sizes, "seeded": seeded, "analyzed": analyzed, "depth": depth, "p50": p50}


def logged_rows(backend: Backend) -> int:
    code = ("import django; django.setup(); from usage.models import RequestLog;"
            "print(RequestLog.objects.filter(company__name='Bench').count())")
    return int(backend.python("-c", code))


def spread(values: list) -> str:
    return f"{min(values):.2f} / {statistics.median(values):.2f}" if values else "not measured"


def cpu_figure(row: Row, part: str) -> float | None:
    values = [c[part] for c in row.cpu_us if c[part] is not None]
    return statistics.median(values) if values else None


def report(backend: Backend, table: list[Row], analytics: dict, sent: int, logged: int) -> dict:
    lines = [f"## {backend.title}", "",
             f"{WORKERS} gunicorn workers of class {WORKER_CLASS} "
             "(tests/bench/gunicorn_conf.py, GUNICORN_WORKER_CLASS); "
             f"{load.generator()} -c{CONNECTIONS}; {ROUNDS} interleaved rounds of {SECONDS:g} s windows, each "
             "ending once its request log is written; each row between two runs of (a); req/s, latency and CPU "
             "are medians over the rounds; ratio = req/s over the mean of the two (a) runs around it, min / median.",
             "CPU µs per request over the window: server = gunicorn master + workers, database = their "
             "PostgreSQL backends, Redis = the whole Redis server's account (an upper bound when shared). "
             "Cold = the most, over the rounds, of key lookups a worker's own copy did not serve, per request.", "",
             f"| {'row':<42} | {'req/s':>6} | {'p50 ms':>6} | {'p99 ms':>6} | {'ratio min / med':>15} "
             f"| {'server µs':>9} | {'db µs':>5} | {'Redis µs':>8} | {'CPU ratio min / med':>19} | {'cold':>6} |",
             f"|{'-' * 44}|{'-' * 8}|{'-' * 8}|{'-' * 8}|{'-' * 17}|{'-' * 11}|{'-' * 7}|{'-' * 10}|{'-' * 21}"
             f"|{'-' * 8}|"]

    def us(value):
        return "-" if value is None else f"{value:.0f}"

    for row in table:
        lines.append(
            f"| {row.label:<42} | {statistics.median(s.rps for s in row.samples):>6.0f} "
            f"| {statistics.median(s.p50_ms for s in row.samples):>6.2f} "
            f"| {statistics.median(s.p99_ms for s in row.samples):>6.2f} | {spread(row.ratios):>15} "
            f"| {us(cpu_figure(row, 'server')):>9} | {us(cpu_figure(row, 'database')):>5} "
            f"| {us(cpu_figure(row, 'redis')):>8} | {spread(row.cpu_ratios):>19} | {max(row.cold):>6.2%} |")
    if not VERIFY_PATH:
        lines.append(f"| {VERIFY:<42} | not measured: no verify endpoint yet (BENCH_VERIFY_PATH names it) |")
    lines += [f"{row.label.split()[0]} {row.warm_note}: its cold column counts first uses."
              for row in table if row.warm_note]
    lines += ["", f"Request log (after the server's graceful stop): {logged} rows for the {sent} keyed requests the "
              "load generator counted (in-flight requests at each window's end are logged too).", ""]
    ratios = {}
    if analytics:
        sizes = analytics["sizes"]
        lines += [f"Analytics, p50 ms of sequential calls over {ANALYTICS_ROUNDS} interleaved rounds; "
                  f"90 days; the deep page is reached by following `next` "
                  + ", ".join(f"{d} times at {sizes[s]:,} rows" for s, d in analytics["depth"].items())
                  + "; ratio to the smallest log, median / max over the rounds (the target, 1.5, is on the max at "
                  f"{sizes['big']:,} rows; larger logs are measured, not judged):", "",
                  "| call | " + " | ".join(f"{n:,} rows" for n in sizes.values()) + " | "
                  + " | ".join(f"{sizes[s]:,} / {sizes['small']:,}" for s in sizes if s != "small") + " |",
                  "|" + "---|" * (1 + 2 * len(sizes) - 1)]
        for call in ANALYTICS:
            cells = [f"{statistics.median(analytics['p50'][(call, s)]):.2f}" for s in sizes]
            for size in (s for s in sizes if s != "small"):
                per_round = [
                    b / a
                    for a, b in zip(analytics["p50"][(call, "small")], analytics["p50"][(call, size)], strict=True)
                ]
                ratios[(call, size)] = per_round
                cells.append(f"{statistics.median(per_round):.2f} / {max(per_round):.2f}")
            lines.append(f"| {call} | " + " | ".join(cells) + " |")
        lines.append("")
    print("\n".join(lines), flush=True)
    by_label = {row.label: row for row in table}
    return {"ratio": {label: row.ratios for label, row in by_label.items()},
            "cpu_ratio": {label: row.cpu_ratios for label, row in by_label.items()},
            "cpu": {label: [server_and_database(c) for c in row.cpu_us] for label, row in by_label.items()},
            "analytics": ratios, "sizes": analytics.get("sizes", {})}


def verdicts(results: dict) -> list[str]:
    """Each target on its min over the rounds (and the median beside it); a row that did not
    run is "not measured", never met. Under each throughput target, the same ratio by CPU per
    request, for reading beside it: the verdict is the req/s ratio's."""
    out = []

    def line(values, target, text, at_most=False, by_cpu=None):
        if not values:
            out.append(f"  [not measured] {text}")
            return
        worst = max(values) if at_most else min(values)
        ok = worst <= target if at_most else worst >= target
        out.append(f"  [{'met' if ok else 'MISSED'}] {text}: {'max' if at_most else 'min'} {worst:.2f}, "
                   f"median {statistics.median(values):.2f}")
        if by_cpu:
            out.append(f"      by CPU per request (server + database): min {min(by_cpu):.2f}, "
                       f"median {statistics.median(by_cpu):.2f}{'' if min(by_cpu) >= target else ', under the target'}")

    for name in BACKENDS:
        res = results.get(name, {"ratio": {}, "cpu_ratio": {}, "cpu": {}, "analytics": {}})
        if noise := res["ratio"].get(NOISE):
            by_cpu = res["cpu_ratio"][NOISE]
            out.append(f"  (noise) {name}: the control against itself, min {min(noise):.2f}, median "
                       f"{statistics.median(noise):.2f} (by CPU min {min(by_cpu):.2f}, median "
                       f"{statistics.median(by_cpu):.2f}): a min this far from 1.00 is this run's noise alone")
        for label, target, text in (
                (ONE_KEY, 0.85, "keyed + logged, one key >= 0.85 of (a)"),
                (MANY_KEYS, 0.8, "keyed + logged, 2,000 keys >= 0.8 of (a)"),
                (LIMITED, 0.7, "keyed + logged + limited >= 0.7 of (a)"),
                (VERIFY, 0.85, "verify endpoint, one key, logged >= 0.85 of (a) (the one-key target)")):
            line(res["ratio"].get(label), target, f"{name}: {text}", by_cpu=res["cpu_ratio"].get(label))
        sizes = res.get("sizes")
        logs = f"{sizes['big']:,} / {sizes['small']:,} rows" if sizes else "large / small log"
        for call in ANALYTICS:
            line(res["analytics"].get((call, "big")), 1.5, f"{name}: {call}, {logs} <= 1.5", at_most=True)
        if name == "postgres":
            line(res["cpu"].get(ONE_KEY), 350, f"{name}: keyed + logged, server + database CPU <= 350 µs per request",
                 at_most=True)
    return out


def bench(backend: Backend) -> dict:
    say(f"{backend.title}: migrating and seeding")
    creds = backend.prepare()
    server = Server(backend)
    try:
        server.start()
        table = rows()
        say(f"{backend.title}: {ROUNDS} rounds x {len(table)} rows x {SECONDS:g} s")
        measure_throughput(server, table, creds)
        analytics = {}
        if LOG_ROWS:
            say(f"{backend.title}: seeding {SMALL_ROWS:,}, {LOG_ROWS:,} {f'and {HUGE_ROWS:,} ' if HUGE_ROWS else ''}"
                "log rows, timing analytics")
            analytics = measure_analytics(server, backend, creds)
        server.stop()
        sent = sum(row.unmeasured + sum(s.requests for s in row.samples) for row in table if row.credential in LOGGED)
        return report(backend, table, analytics, sent, logged_rows(backend))
    finally:
        server.stop()


def main() -> int:
    load_average = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"# make bench, {date.today().isoformat()}: {os.cpu_count()} cores, load average {load_average} at the "
          f"start, {platform.python_implementation()} {platform.python_version()}, load generator "
          f"{load.generator()}\n", flush=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="keyhouse-bench-") as tmp:
        for name in BACKENDS:
            if name == "sqlite":
                backend = Sqlite(Path(tmp))
            elif name == "postgres":
                why = Postgres.reachable()
                if why:
                    print(f"PostgreSQL + Redis not usable ({why[:200]}); no second table.\n")
                    continue
                backend = Postgres(Path(tmp))
            else:
                raise SystemExit(f"unknown backend {name!r}")
            try:
                results[name] = bench(backend)
            finally:
                backend.cleanup()
    print("Targets (ratios to (a) in the same run, min over rounds):")
    print("\n".join(verdicts(results)))
    print(f"Load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
