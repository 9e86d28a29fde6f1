"""`make bench`: keyed requests against an unauthenticated control, measured in one run.

For SQLite, then for PostgreSQL + Redis when both are reachable, it starts four gunicorns
(2 workers each, loopback, a database of their own cloned from one seeded database):

    default       the shipped settings: verified keys cached, request log written in batches
    no key cache  API_KEY_LOCAL_SECONDS=API_KEY_CACHE_SECONDS=0   (the key-cache lever off)
    no batching   USAGE_FLUSH_SECONDS=0       (one log transaction per request)
    naive         both off

and drives each row for a few seconds, in interleaved rounds, so every ratio compares
figures taken minutes apart at most. Then it seeds 10k and 1M log rows for two keys and
times the analytics calls on each. Knobs (environment): BENCH_ROUNDS, BENCH_SECONDS,
BENCH_CONNECTIONS, BENCH_LOG_ROWS, BENCH_SMALL_ROWS, BENCH_BACKENDS=sqlite,postgres,
BENCH_POSTGRES_URL, BENCH_REDIS_URL.
"""
import json
import os
import platform
import shutil
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
from tests.gunicorn_server import free_port, request

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "1"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))
LOG_ROWS = int(os.environ.get("BENCH_LOG_ROWS", "1000000"))
SMALL_ROWS = int(os.environ.get("BENCH_SMALL_ROWS", "10000"))
BACKENDS = os.environ.get("BENCH_BACKENDS", "sqlite,postgres").split(",")
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/2")
WORKERS = 2
ANALYTICS_SECONDS = 1  # wrk takes whole seconds
ANALYTICS_ROUNDS = 3
LEVER_SETTINGS = ("API_KEY_LOCAL_SECONDS", "API_KEY_CACHE_SECONDS", "USAGE_FLUSH_SECONDS")
SERVERS = {
    "default": {},
    "no key cache": {"API_KEY_LOCAL_SECONDS": "0", "API_KEY_CACHE_SECONDS": "0"},
    "no batching": {"USAGE_FLUSH_SECONDS": "0"},
    "naive": {"API_KEY_LOCAL_SECONDS": "0", "API_KEY_CACHE_SECONDS": "0", "USAGE_FLUSH_SECONDS": "0"},
}
ANALYTICS = ("usage?days=90", "usage/by-tier?days=90", "usage/timeseries?days=90")


@dataclass
class Row:
    label: str
    server: str
    path: str
    credential: str  # "" (none) or the name of a seeded credential
    samples: list = field(default_factory=list)  # load.Result per round
    unmeasured: int = 0  # requests sent by the check and the warm-up
    ratios: list = field(default_factory=list)  # req/s over the same round's control

    def headers(self, creds: dict) -> dict:
        value = creds.get(self.credential)
        if self.credential in ("logged", "limited"):
            return {"API-Key": value}
        if self.credential == "hasapikey":
            return {"Authorization": f"Api-Key {value}"}
        if self.credential == "token":
            return {"Authorization": f"Token {value}"}
        return {}


def rows() -> list[Row]:
    me = "/api/v1/me"
    return [
        Row("(a)  control: same stack, no authentication", "default", "/api/v1/bench/control", ""),
        Row("(b1) Keyhouse key, logging, no limit", "default", me, "logged"),
        Row("(b2) Keyhouse key, logging, request limit", "default", me, "limited"),
        Row("(c)  djangorestframework-api-key HasAPIKey", "default", "/api/v1/bench/hasapikey/me", "hasapikey"),
        Row("(d)  DRF TokenAuthentication", "default", "/api/v1/bench/token/me", "token"),
        Row("(b1) without key cache", "no key cache", me, "logged"),
        Row("(b2) without key cache", "no key cache", me, "limited"),
        Row("(b1) without batched log", "no batching", me, "logged"),
        Row("(b2) without batched log", "no batching", me, "limited"),
        Row("(b1) naive: neither lever", "naive", me, "logged"),
        Row("(b2) naive: neither lever", "naive", me, "limited"),
    ]


def say(*parts) -> None:
    print(*parts, file=sys.stderr, flush=True)


class Backend:
    """Where the bench servers keep their data: one seeded database, cloned per server."""

    title = ""
    cache_url = "locmemcache://keyhouse"

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.run_id = uuid.uuid4().hex[:8]

    def env(self, server: str) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in LEVER_SETTINGS}
        env.update({
            "DJANGO_SETTINGS_MODULE": "tests.bench.settings",
            "DATABASE_URL": self.database_url(server),
            "CACHE_URL": self.cache_url,
            "BENCH_CACHE_PREFIX": f"bench{self.run_id}{server.replace(' ', '')}",
            "DEBUG": "false",
            "API_KEY_PEPPER": "bench-pepper",
            "HOST": "127.0.0.1",
            "WEB_CONCURRENCY": str(WORKERS),
            "LOG_LEVEL": "WARNING",
            **SERVERS[server],
        })
        return env

    def python(self, server: str, *args: str) -> str:
        result = subprocess.run([sys.executable, *args], cwd=ROOT, env=self.env(server), capture_output=True,
                                text=True, timeout=900)
        if result.returncode:
            raise RuntimeError(f"{' '.join(args)} failed: {result.stderr[-3000:]}")
        return result.stdout.strip()

    def prepare(self) -> dict:
        """Migrate and seed the default server's database, then clone it for the others."""
        self.python("default", "manage.py", "migrate", "--noinput", "-v0")
        creds = json.loads(self.python("default", "-m", "tests.bench.seed", "setup"))
        for server in SERVERS:
            if server != "default":
                self.clone(server)
        return creds


class Sqlite(Backend):
    title = "SQLite (WAL) + per-worker local-memory cache"

    def database_url(self, server: str) -> str:
        return f"sqlite:///{self.path(server)}"

    def path(self, server: str) -> Path:
        return self.tmp / f"bench-{server.replace(' ', '-')}.sqlite3"

    def clone(self, server: str) -> None:
        shutil.copyfile(self.path("default"), self.path(server))

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
        """'' when PostgreSQL and Redis both answer, else why not."""
        try:
            import psycopg
            import redis

            psycopg.connect(POSTGRES_URL, connect_timeout=3).close()
            redis.Redis.from_url(REDIS_URL, socket_timeout=3).ping()
        except Exception as exc:  # any failure means: no second table
            return f"{type(exc).__name__}: {exc}".strip()
        return ""

    def name(self, server: str) -> str:
        return f"keyhouse_bench_{self.run_id}_{server.replace(' ', '_')}"

    def database_url(self, server: str) -> str:
        return POSTGRES_URL.rsplit("/", 1)[0] + "/" + self.name(server)

    def admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(sql)

    def prepare(self) -> dict:
        self.admin(f'CREATE DATABASE "{self.name("default")}"')
        self.created.append(self.name("default"))
        return super().prepare()

    def clone(self, server: str) -> None:
        self.admin(f'CREATE DATABASE "{self.name(server)}" TEMPLATE "{self.name("default")}"')
        self.created.append(self.name(server))

    def cleanup(self) -> None:
        import redis

        for name in self.created:
            self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"*bench{self.run_id}*"):
            client.delete(key)


class Server:
    def __init__(self, backend: Backend, name: str):
        self.backend, self.name = backend, name
        self.port = free_port()
        self.log = open(backend.tmp / f"gunicorn-{name.replace(' ', '-')}.log", "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "tests/bench/gunicorn_conf.py", "config.wsgi"],
            cwd=ROOT, env={**backend.env(name), "PORT": str(self.port)}, stdout=self.log, stderr=subprocess.STDOUT,
        )

    def wait(self) -> "Server":
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if request(self.port, "GET", "/api/v1/bench/control", timeout=2)[0] == 200:
                    return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn ({self.name}) did not start: " + Path(self.log.name).read_text()[-3000:])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        """SIGTERM: a graceful stop, so each worker writes its buffered log (worker_exit)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


def check(server: Server, row: Row, creds: dict) -> None:
    status, _, body = request(server.port, "GET", row.path) if not row.credential else _get(server, row, creds)
    if status != 200:
        raise RuntimeError(f"{row.label} answered {status} on {server.name}: {body}")


def _get(server: Server, row: Row, creds: dict):
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", row.path, headers=row.headers(creds))
        response = conn.getresponse()
        return response.status, {}, response.read()[:500]
    finally:
        conn.close()


def measure_throughput(servers: dict, table: list[Row], creds: dict) -> None:
    """Each round runs every row once, each between two runs of the control, and a row's ratio
    for the round is its req/s over the mean of the two controls around it: on a shared,
    noisy machine that compares figures taken seconds apart."""
    control, others = table[0], table[1:]
    for row in table:
        check(servers[row.server], row, creds)
        warm_up = load.run(servers[row.server].url(row.path), row.headers(creds), 1, CONNECTIONS)
        row.unmeasured = 1 + warm_up.requests

    def drive(row):
        result = load.run(servers[row.server].url(row.path), row.headers(creds), SECONDS, CONNECTIONS)
        if result.non2xx or result.errors:
            raise RuntimeError(f"{row.label}: {result.non2xx} non-2xx answers, {result.errors} socket errors")
        row.samples.append(result)
        return result

    for n in range(ROUNDS):
        # Rotate the order each round, so that no row always runs right after another.
        order = others[n % len(others):] + others[:n % len(others)]
        before = drive(control)
        for row in order:
            result = drive(row)
            after = drive(control)
            row.ratios.append(result.rps / ((before.rps + after.rps) / 2))
            before = after
        control.ratios.append(1.0)
        say(f"  round {n + 1}/{ROUNDS}: " + ", ".join(f"{r.label.split()[0]} {r.ratios[-1]:.2f}"
                                                       for r in table if r.server == "default"))


def measure_analytics(server: Server, backend: Backend, creds: dict) -> list[tuple]:
    """p50 latency of each analytics call for the 10k-row key and the 1M-row key, interleaved."""
    small = json.loads(backend.python("default", "-m", "tests.bench.seed", "log", creds["small_key_id"],
                                      str(SMALL_ROWS)))
    big = json.loads(backend.python("default", "-m", "tests.bench.seed", "log", creds["big_key_id"], str(LOG_ROWS)))
    headers = {"API-Key": creds["analyst"]}
    p50 = {(call, size): [] for call in ANALYTICS for size in ("small", "big")}
    for _ in range(ANALYTICS_ROUNDS):
        for call in ANALYTICS:
            for size in ("small", "big"):
                url = server.url(f"/api/v1/api-keys/{creds[size + '_key_id']}/{call}")
                result = load.run(url, headers, ANALYTICS_SECONDS, connections=1, threads=1)
                if result.non2xx or result.errors or not result.requests:
                    raise RuntimeError(f"{url}: {result}")
                p50[(call, size)].append(result.p50_ms)
    out = []
    for call in ANALYTICS:
        s, b = statistics.median(p50[(call, "small")]), statistics.median(p50[(call, "big")])
        # Every call asks for 90 days, which the daily rollups answer.
        out.append((call, small["rows"], big["rows"], small["rollups"]["DailyRollup"], big["rollups"]["DailyRollup"],
                    s, b, b / s))
    return out


def logged_rows(backend: Backend, creds: dict) -> int:
    code = ("import django, json; django.setup(); from usage.models import RequestLog; from keys.models import ApiKey;"
            "from core.crypto import hash_key;"
            f"print(RequestLog.objects.filter(api_key__key_hash__in=[hash_key({creds['logged']!r}),"
            f"hash_key({creds['limited']!r})]).count())")
    return int(backend.python("default", "-c", code))


def report(backend: Backend, table: list[Row], analytics: list[tuple], sent: int, logged: int) -> dict:
    lines = [f"## {backend.title}", "",
             f"{WORKERS} gunicorn workers; {load.generator()} -c{CONNECTIONS}, {ROUNDS} interleaved rounds of "
             f"{SECONDS:g} s, each row between two runs of (a); medians over the rounds; ratio = req/s over the "
             "mean of the two (a) runs around it", "",
             f"| {'row':<45} | {'server':<12} | {'req/s':>7} | {'p50 ms':>7} | {'p99 ms':>7} | {'ratio to (a)':>12} |",
             f"|{'-' * 47}|{'-' * 14}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 14}|"]
    ratio = {}
    for row in table:
        ratio[row.label] = statistics.median(row.ratios)
        lines.append(
            f"| {row.label:<45} | {row.server:<12} | {statistics.median(s.rps for s in row.samples):>7.0f} "
            f"| {statistics.median(s.p50_ms for s in row.samples):>7.2f} "
            f"| {statistics.median(s.p99_ms for s in row.samples):>7.2f} | {ratio[row.label]:>12.2f} |")
    lines += ["", f"Request log (default server, after its graceful stop): {logged} rows for the {sent} keyed "
              "requests the load generator counted (in-flight requests at each round's end are logged too).", ""]
    if analytics:
        lines += ["Analytics, p50 of sequential calls, interleaved; ratio = 1M-row key over 10k-row key:", "",
                  f"| {'call':<26} | {'log rows':>19} | {'daily rollups':>17} | {'ratio 1M / 10k':>14} |",
                  f"|{'-' * 28}|{'-' * 21}|{'-' * 19}|{'-' * 16}|"]
        for call, rs, rb, us, ub, _s, _b, r in analytics:
            lines.append(f"| {call:<26} | {f'{rs:,} vs {rb:,}':>19} | {f'{us:,} vs {ub:,}':>17} | {r:>14.2f} |")
        lines.append("")
    print("\n".join(lines), flush=True)
    return {"ratio": ratio, "analytics": [a[-1] for a in analytics]}


def verdicts(results: dict) -> list[str]:
    out = []

    def line(ok, text):
        out.append(f"  [{'met' if ok else 'MISSED'}] {text}")

    b1, b2, c = ("(b1) Keyhouse key, logging, no limit", "(b2) Keyhouse key, logging, request limit",
                 "(c)  djangorestframework-api-key HasAPIKey")
    for name, res in results.items():
        r = res["ratio"]
        line(r[b1] >= 0.75, f"{name}: key + logging, no limit >= 0.75 of (a): {r[b1]:.2f}")
        line(r[b1] > r[c], f"{name}: key + logging faster than HasAPIKey: {r[b1]:.2f} vs {r[c]:.2f}")
        if name == "sqlite":
            out.append(f"  [report] sqlite: key + logging + limit (database counter): {r[b2]:.2f}")
        else:
            line(r[b2] >= 0.5, f"{name}: key + logging + limit >= 0.5 of (a) (Redis counter): {r[b2]:.2f}")
        if res["analytics"]:
            worst = max(res["analytics"])
            line(worst < 2, f"{name}: analytics 1M / 10k rows under 2: worst {worst:.2f}")
    return out


def bench(backend: Backend) -> dict:
    say(f"{backend.title}: migrating and seeding")
    creds = backend.prepare()
    servers = {}
    try:
        for name in SERVERS:
            servers[name] = Server(backend, name)
        for server in servers.values():
            server.wait()
        table = rows()
        say(f"{backend.title}: {ROUNDS} rounds x {len(table)} rows x {SECONDS:g} s")
        measure_throughput(servers, table, creds)
        for name in [n for n in servers if n != "default"]:
            servers.pop(name).stop()
        if LOG_ROWS:
            say(f"{backend.title}: seeding {SMALL_ROWS:,} and {LOG_ROWS:,} log rows, timing analytics")
            analytics = measure_analytics(servers["default"], backend, creds)
        else:
            analytics = []
        servers.pop("default").stop()
        sent = sum(row.unmeasured + sum(s.requests for s in row.samples)
                   for row in table if row.server == "default" and row.credential in ("logged", "limited"))
        return report(backend, table, analytics, sent, logged_rows(backend, creds))
    finally:
        for server in servers.values():
            server.stop()


def main() -> int:
    print(f"# make bench, {date.today().isoformat()}: {os.cpu_count()} cores, {platform.python_implementation()} "
          f"{platform.python_version()}, load generator {load.generator()}\n", flush=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="keyhouse-bench-") as tmp:
        for name in BACKENDS:
            if name == "sqlite":
                backend = Sqlite(Path(tmp))
            elif name == "postgres":
                why = Postgres.reachable()
                if why:
                    print(f"PostgreSQL + Redis not reachable ({why[:200]}); no second table.\n")
                    continue
                backend = Postgres(Path(tmp))
            else:
                raise SystemExit(f"unknown backend {name!r}")
            try:
                results[name] = bench(backend)
            finally:
                backend.cleanup()
    print("Targets (ratios to (a) in the same run):")
    print("\n".join(verdicts(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
