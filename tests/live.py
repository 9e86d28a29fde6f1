"""The one live-server harness: a real gunicorn serving Keyhouse on loopback with
config/gunicorn_conf.py, on a free port and a database of its own (a SQLite file by default,
PostgreSQL when DATABASE_URL names it) and the run's CACHE_URL (Redis in CI's second pass).

    with live_gunicorn(tmp_path, workers=4) as server:
        server.request("GET", "/api/v1/me", key)  # or any client on server.base_url

It waits until the server answers before yielding and stops it (and drops its database)
however the block ends. The load and concurrency tests, `make verify` and `make bench` all
start their servers here."""
import http.client
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "a long enough test passphrase"


def request(port: int, method: str, path: str, key: str | None = None, body: dict | None = None,
            timeout: float = 30, headers: dict | None = None) -> tuple[int, dict, dict]:
    """One HTTP request: (status, headers, JSON body or {})."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Content-Type": "application/json", **(headers or {})}
    if key:
        headers["API-Key"] = key
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        json_types = ("application/json", "application/problem+json")
        data = json.loads(raw) if raw and response.getheader("Content-Type", "").startswith(json_types) else {}
        return response.status, dict(response.getheaders()), data
    finally:
        conn.close()


class GunicornServer:
    def __init__(self, tmp_path: Path, workers: int = 4, database_url: str | None = None,
                 cache_url: str | None = None, new_database: bool = True, env: dict[str, str] | None = None,
                 ready: tuple[str, int, dict] = ("/api/v1/me", 401, {}), *, config: str = "config/gunicorn_conf.py",
                 app: str = "config.wsgi", base_env: dict[str, str] | None = None, start_timeout: float = 30,
                 collectstatic: bool = False):
        """database_url and cache_url default to the run's DATABASE_URL and CACHE_URL; an empty
        cache_url means local memory. new_database=False serves database_url as it is, neither
        created, migrated nor dropped here: another node of the deployment that made it. `env`
        overrides any of the variables below (the production settings behind a proxy, say), and
        `ready` is the (path, status, headers) that says the server is up: with production's
        ALLOWED_HOSTS and https redirect, /api/v1/me is neither. `base_env` replaces the live
        tests' settings below with a whole environment of the caller's (the benchmark's own
        settings module and app), and `config` and `app` are gunicorn's. collectstatic: for the
        production settings, whose pages name their files by hash."""
        self.ready = ready
        self.tmp_path = tmp_path
        self.workers = workers
        self.command = [sys.executable, "-m", "gunicorn", "--config", config, app]
        self.start_timeout = start_timeout
        self.collectstatic = collectstatic
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process = None
        self.pg_name = None
        self.new_database = new_database
        self.admin_url = database_url if database_url is not None else os.environ.get("DATABASE_URL", "")
        if not new_database:
            self.database_url = self.admin_url
        elif self.admin_url.startswith("postgres"):
            self.pg_name = f"keyhouse_live_{uuid.uuid4().hex[:10]}"
            self._pg_admin(f'CREATE DATABASE "{self.pg_name}"')
            self.database_url = self.admin_url.rsplit("/", 1)[0] + "/" + self.pg_name
        else:
            self.database_url = f"sqlite:///{tmp_path / 'live.sqlite3'}"
        cache = {"CACHE_URL": cache_url} if cache_url else {}
        self.env = {**base_env, "PORT": str(self.port), "WEB_CONCURRENCY": str(workers)} if base_env else {
            **{k: v for k, v in os.environ.items() if not (cache_url == "" and k == "CACHE_URL")},
            **cache,
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "DATABASE_URL": self.database_url,
            "DEBUG": "false",
            "API_KEY_PEPPER": "live-test-pepper",
            "USAGE_FLUSH_SECONDS": "0.5",
            # The live suites drive /me from one key as load, thousands a minute: the management
            # abuse limit would refuse that (tests/usage/test_metering.py covers it).
            "MANAGEMENT_REQUESTS_PER_MINUTE": "0",
            "KEYHOUSE_PASSWORD": PASSWORD,
            "PORT": str(self.port),
            "WEB_CONCURRENCY": str(workers),
            **(env or {}),
        }

    def _pg_admin(self, sql: str) -> None:
        import psycopg

        admin_url = self.admin_url.replace("postgres://", "postgresql://", 1)
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql)

    def manage(self, *args: str) -> str:
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env,
                                capture_output=True, text=True, timeout=120)
        if result.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed: {result.stderr[-2000:]}")
        return result.stdout.strip()

    def start(self) -> "GunicornServer":
        if self.new_database:
            self.manage("migrate", "--noinput", "-v0")
        if self.collectstatic:
            self.manage("collectstatic", "--noinput", "-v0")
        with open(self.log_path, "w") as log:  # gunicorn keeps its own copy
            self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.start_timeout
        path, status, headers = self.ready
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if request(self.port, "GET", path, timeout=2, headers=headers)[0] == status:
                    return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("gunicorn did not start: " + self.log_path.read_text()[-3000:])

    @property
    def log_path(self) -> Path:
        """gunicorn's stdout and stderr: the access log, its error log and Django's console."""
        return self.tmp_path / "gunicorn.log"

    def member_key(self, username: str, company: str, role: str) -> str:
        """A new member of `company` and a live key of theirs (created as an operator would)."""
        self.manage("addmember", username, "--company", company, "--role", role)
        return self.manage("issuekey", username, "--name", f"{username} load test")

    def reload(self) -> None:
        """A graceful restart: new workers start, old ones finish their requests and exit."""
        self.process.send_signal(signal.SIGHUP)

    def stop(self) -> None:
        """SIGTERM: a graceful stop, so each worker writes its buffered request log (worker_exit)."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise
        if self.pg_name:
            self._pg_admin(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
            self.pg_name = None

    def request(self, method: str, path: str, key: str | None = None, body: dict | None = None):
        return request(self.port, method, path, key, body)


@contextmanager
def live_gunicorn(tmp_path: Path, **options) -> Iterator[GunicornServer]:
    """A started GunicornServer(tmp_path, **options), stopped however the block ends."""
    server = GunicornServer(tmp_path, **options)
    try:
        yield server.start()
    finally:
        server.stop()
