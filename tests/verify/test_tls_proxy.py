"""Part 12: Keyhouse behind a real proxy, and docs/deploy.md followed on a clean clone.

Keyhouse behind a real proxy. Debian's nginx, serving docs/nginx/keyhouse.conf with
a self-signed certificate for keys.test, in front of gunicorn on the production settings; a
real Chromium signs in over https, generates a key, restricts it to one address, and revokes
it. The key is used from other loopback addresses (127.0.0.2, 127.0.0.3) than the one nginx
talks to gunicorn from (127.0.0.1), so the address the restriction and the request log see can
only be the one nginx forwarded, and a forged X-Forwarded-For sent along must change nothing.

Then docs/deploy.md, followed as a reader types it (tests/deploy/follow_deploy_md.py), must end
with the app answering /healthz and /readyz through nginx over https.
"""
import hashlib
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.browser.conftest import CHROMIUM_ARGS, CHROMIUM_PATH
from tests.browser.helpers import KEY_RE
from tests.deploy.follow_deploy_md import DOC, ROOT, files_shown, script, stop_everything, write_standins
from tests.live import PASSWORD, GunicornServer
from tests.nginx_server import HOST_PLACEHOLDER, SITE, NginxServer, move_site, self_signed, unverified
from tests.ports import free_port
from tests.verify.live import SHARED_POSTGRES, SHARED_REDIS, keep_evidence, sql

pytestmark = pytest.mark.verify
PART = "12 tls proxy"
HOST = "keys.test"
# The environment docs/deploy.md writes to /etc/keyhouse/env, but for the secrets and the database.
PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "DJANGO_SECRET_KEY": "tls-proxy-test-secret-key-" + "x" * 40,
    "API_KEY_PEPPER": "tls-proxy-test-pepper",
    "ALLOWED_HOSTS": HOST,
    "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
    "TRUSTED_PROXY_COUNT": "1",
    "FORWARDED_ALLOW_IPS": "127.0.0.1",
}
# What a CSRF refusal renders (templates/403_csrf.html).
CSRF_REFUSED = "That form could not be sent"


@pytest.fixture(scope="module")
def stack(tmp_path_factory, evidence):
    tmp = tmp_path_factory.mktemp("tls")
    # nginx's workers (nobody, when the master is root) must reach the prefix: not under pytest's 0700 tmp.
    prefix = Path(tempfile.mkdtemp(prefix="keyhouse-nginx-"))
    app = GunicornServer(tmp, workers=2, database_url="", cache_url="", env=PRODUCTION,
                         ready=("/healthz", 200, {"Host": HOST}), collectstatic=True).start()
    https_port, http_port = free_port(), free_port()
    self_signed(prefix / "letsencrypt" / "live" / HOST, HOST)
    (prefix / "acme" / ".well-known" / "acme-challenge").mkdir(parents=True)
    (prefix / "acme" / ".well-known" / "acme-challenge" / "token").write_text("acme says hi")
    (prefix / "sites").mkdir()
    (prefix / "sites" / "keyhouse").write_text(move_site(
        SITE.read_text().replace(HOST_PLACEHOLDER, HOST), https_port=https_port, http_port=http_port,
        upstream_port=app.port, paths={"/etc/letsencrypt/": f"{prefix}/letsencrypt/",
                                       "/var/log/nginx/": f"{prefix}/", "/var/www/html": f"{prefix}/acme"}))
    proxy = NginxServer(prefix, prefix / "sites", https_port)
    try:
        proxy.start()
        app.manage("addmember", "olivia", "--company", "Acme", "--role", "owner")
        yield app, proxy, http_port
    finally:
        proxy.stop()
        app.stop()
        for log in ("keyhouse.access.log", "keyhouse.error.log"):
            if (prefix / log).exists():
                evidence.text(f"nginx {log}", (prefix / log).read_text(errors="replace"))
        keep_evidence(app, evidence, "tls proxy")
        shutil.rmtree(prefix, ignore_errors=True)


def https(port: int, method: str, path: str, *, source: str = "127.0.0.1", headers: dict | None = None
          ) -> tuple[int, dict, bytes]:
    """One request to nginx over TLS from a loopback address of our choosing."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=unverified(), source_address=(source, 0))
    try:
        conn.request(method, path, headers={"Host": f"{HOST}:{port}", **(headers or {})})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def test_plain_http_is_moved_to_https(stack, figures):
    _, _, http_port = stack
    conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
    conn.request("GET", "/settings/advanced/api-keys/?days=7", headers={"Host": HOST})
    response = conn.getresponse()
    assert (response.status, response.getheader("Location")) == (301, f"https://{HOST}/settings/advanced/api-keys/?days=7")
    # Renewals of the certificate (certbot --webroot) are answered over plain http.
    conn.request("GET", "/.well-known/acme-challenge/token", headers={"Host": HOST})
    response.read()
    response = conn.getresponse()
    assert (response.status, response.read()) == (200, b"acme says hi")
    conn.close()
    figures.sent(PART, 2)
    figures.fact(PART, "http", "301 to https")


def test_sign_in_generate_use_revoke_through_nginx(stack, figures, evidence):
    app, proxy, _ = stack
    base = f"https://{HOST}:{proxy.https_port}"
    posts = []  # (url, status) of every form post the browser made
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=[
            *CHROMIUM_ARGS, f"--host-resolver-rules=MAP {HOST} 127.0.0.1"])
        context = browser.new_context(base_url=base, ignore_https_errors=True, viewport={"width": 1440, "height": 900})
        page = context.new_page()
        page.on("response", lambda r: posts.append((r.url, r.status)) if r.request.method == "POST" else None)
        try:
            first = page.goto("/")
            assert first.url.startswith(f"{base}/accounts/login/")
            hsts = first.headers.get("strict-transport-security", "")
            assert "max-age=31536000" in hsts and "includeSubDomains" in hsts
            page.get_by_label("Username").fill("olivia")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            expect(page).to_have_url(f"{base}/settings/advanced/api-keys/")
            cookies = {c["name"]: c for c in context.cookies()}
            assert cookies["sessionid"]["secure"] and cookies["csrftoken"]["secure"]

            page.get_by_role("link", name="Generate New API-key").first.click()
            create = page.get_by_role("dialog", name="Generate New API-key")
            create.get_by_label("Name").fill("Behind nginx")
            create.get_by_label("Live").check()
            create.get_by_role("button", name="Create").click()
            shown = page.get_by_role("dialog", name="Your new API key “Behind nginx”")
            raw = shown.get_by_label("API key").input_value()
            assert KEY_RE.fullmatch(raw)
            evidence.response("https: the page that showed the new key", page.content(), created=raw)
            shown.get_by_role("button", name="I have copied it, close").click()
            shown.get_by_role("button", name="Close without copying").click()  # a test copies nothing

            page.get_by_role("link", name="Behind nginx", exact=True).click()
            restrictions = page.locator("details#restrictions")
            restrictions.get_by_text("Restrictions and scopes").click()  # the panel opens on demand
            restrictions.get_by_label("Allowed IP addresses").fill("127.0.0.2")
            restrictions.get_by_role("button", name="Save restrictions").click()
            expect(restrictions.get_by_role("status")).to_contain_text("IP addresses: any → 127.0.0.2")

            # Allowed: from 127.0.0.2, with a forged X-Forwarded-For and a request id of the client's own.
            allowed = https(proxy.https_port, "GET", "/api/v1/me", source="127.0.0.2", headers={
                "API-Key": raw, "X-Forwarded-For": "198.51.100.7", "X-Request-Id": "chosen-by-the-client"})
            # Refused: from 127.0.0.3, forging the allowed address.
            refused = https(proxy.https_port, "GET", "/api/v1/me", source="127.0.0.3",
                            headers={"API-Key": raw, "X-Forwarded-For": "127.0.0.2"})
            evidence.response("https GET /api/v1/me (allowed)", f"{allowed[1]}\n{allowed[2]!r}")
            evidence.response("https GET /api/v1/me (refused)", f"{refused[1]}\n{refused[2]!r}")
            assert allowed[0] == 200, allowed
            assert refused[0] == 403 and b'"ip_not_allowed"' in refused[2], refused
            assert "max-age=31536000" in allowed[1]["strict-transport-security"]
            ids = [allowed[1]["x-request-id"], refused[1]["x-request-id"]]
            assert all(re.fullmatch(r"[0-9a-f]{32}", rid) for rid in ids), ids  # nginx's $request_id

            key_id = sql(app, "SELECT id FROM keys_apikey WHERE name = %s", ("Behind nginx",))[0][0]
            rows = []
            for _ in range(40):  # the workers write the request log every USAGE_FLUSH_SECONDS
                rows = sql(app, "SELECT client_ip, request_id, status_code, error_code FROM usage_requestlog "
                                "WHERE api_key_id = %s ORDER BY id", (key_id,))
                if len(rows) >= 2:
                    break
                time.sleep(0.25)
            assert rows == [("127.0.0.2", ids[0], 200, ""), ("127.0.0.3", ids[1], 403, "ip_not_allowed")]
            access_log = (proxy.prefix / "keyhouse.access.log").read_text()
            for source, rid in zip(("127.0.0.2", "127.0.0.3"), ids, strict=True):
                assert re.search(
                    rf"^{re.escape(source)} .*\"GET /api/v1/me HTTP/1\.1\" .* rid={rid}$", access_log, re.M
                )

            page.goto("/settings/advanced/api-keys/")
            behind = page.locator("tr", has=page.get_by_role("link", name="Behind nginx", exact=True))
            behind.locator("summary").click()
            behind.get_by_role("link", name="Revoke key").click()
            dialog = page.get_by_role("dialog", name="Revoke “Behind nginx” (sk_")
            dialog.get_by_role("button", name="Revoke key").click()
            expect(page.get_by_role("status")).to_contain_text("Revoked “Behind nginx”")
            assert CSRF_REFUSED not in page.content()
        finally:
            context.close()
            browser.close()

    after = https(proxy.https_port, "GET", "/api/v1/me", source="127.0.0.2", headers={"API-Key": raw})
    assert after[0] == 401 and b'"revoked_api_key"' in after[2], after
    # Sign-in, create, close, restrictions, revoke: every form post went through, none refused.
    assert len(posts) >= 4 and all(status in (200, 302, 303) for _, status in posts), posts
    figures.sent(PART, 3)
    figures.fact(PART, "client address seen", "127.0.0.2 = nginx's $remote_addr (forged X-Forwarded-For ignored)")
    figures.fact(PART, "request id", "nginx log = response = request-log row")
    figures.fact(PART, "form posts refused", f"{sum(s == 403 for _, s in posts)}/{len(posts)}")


def _pg(sql_text: str) -> None:
    import psycopg

    with psycopg.connect(SHARED_POSTGRES.replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
        conn.execute(sql_text)


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def wheelhouse() -> Path:
    """What `make install` installs, downloaded once per requirements.lock and pyproject.toml,
    so that following the page does not fetch the same wheels from PyPI on every run."""
    digest = hashlib.sha256((ROOT / "requirements.lock").read_bytes() + (ROOT / "pyproject.toml").read_bytes())
    path = ROOT / "var" / "deploy-wheels" / digest.hexdigest()[:12]
    if not (path / ".complete").exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                        "--dest", str(path), "-c", str(ROOT / "requirements.lock"), str(ROOT), "setuptools>=68"],
                       check=True, timeout=900, stderr=subprocess.DEVNULL)
        (path / ".complete").touch()
    return path


def test_deploy_md_followed_on_a_clean_clone(wheelhouse, figures, evidence):
    doc = DOC.read_text()
    for path, shown in files_shown(doc).items():
        assert shown == (ROOT / path).read_text(), f"docs/deploy.md shows a {path} that differs from the file"
    root = Path(tempfile.mkdtemp(prefix="keyhouse-deploy-"))
    root.chmod(0o755)  # nginx's workers read the ACME webroot and write their temp files under it
    for directory in ("etc/nginx/sites-available", "etc/nginx/sites-enabled", "etc/systemd/system", "srv",
                      "var/www/html", "home"):
        (root / directory).mkdir(parents=True)  # what Debian and its nginx package make
    ports = {"https_port": free_port(), "http_port": free_port(), "app_port": free_port()}
    standins = write_standins(root, {"host": HOST, **ports})
    # The repository as it stands (uncommitted changes of tracked files included), to clone from.
    snapshot = _git("stash", "create") or _git("rev-parse", "HEAD")
    subprocess.run(
        ["git", "init", "--quiet", "--bare", "--initial-branch=main", str(root / "keyhouse.git")], check=True
    )
    _git("push", "--quiet", str(root / "keyhouse.git"), f"{snapshot}:refs/heads/main")
    database = f"keyhouse_deploy_{uuid.uuid4().hex[:10]}"
    database_url = SHARED_POSTGRES.rsplit("/", 1)[0] + "/" + database
    rewrites = {
        "export KEYHOUSE_HOST=keys.example.com": f"export KEYHOUSE_HOST={HOST}",
        "export KEYHOUSE_REPO=https://git.example.com/you/keyhouse.git":
            f"export KEYHOUSE_REPO={root / 'keyhouse.git'}",
        "DATABASE_URL=postgres:///keyhouse": f"DATABASE_URL={database_url}",
        "CACHE_URL=redis://127.0.0.1:6379/0": f"CACHE_URL={SHARED_REDIS}",
        "PORT=8000": f"PORT={ports['app_port']}",
    }
    (root / "deploy.sh").write_text(script(doc, root, rewrites))
    runnable = sum(1 for line in (root / "deploy.sh").read_text().splitlines() if line.startswith("echo '### "))
    hidden = (
        "DJANGO_",
        "PYTEST_",
        "KEYHOUSE_",
        "DATABASE_URL",
        "CACHE_URL",
        "PYTHONPATH",
        "VIRTUAL_ENV",
        "CHROMIUM_PATH",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(hidden)}
    env.update(PATH=f"{standins}:{os.environ['PATH']}", PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheelhouse),
               KEYHOUSE_PASSWORD=PASSWORD)
    _pg(f'CREATE DATABASE "{database}"')
    started = time.monotonic()
    try:
        result = subprocess.run(["bash", str(root / "deploy.sh")], cwd=root / "home", env=env,
                                capture_output=True, text=True, timeout=900)
        seconds = time.monotonic() - started
        assert result.returncode == 0, f"following docs/deploy.md failed:\n{(result.stdout + result.stderr)[-5000:]}"

        port = ports["https_port"]
        assert https(port, "GET", "/healthz")[:1] == (200,)
        for _ in range(40):  # each of the 4 workers answers once its Redis listener is up
            status, headers, body = https(port, "GET", "/readyz")
            if status == 200:
                break
            time.sleep(0.25)
        assert status == 200, body
        assert json.loads(body) == {"status": "ok", "checks": {"database": "ok", "cache": "ok",
                                    "request_log_writer": "ok", "invalidation_listener": "ok"}}
        assert "max-age=31536000" in headers["strict-transport-security"]
        login = https(port, "GET", "/accounts/login/")
        assert login[0] == 200 and b"Sign in" in login[2]
        conn = http.client.HTTPConnection("127.0.0.1", ports["http_port"], timeout=10)
        conn.request("GET", "/readyz", headers={"Host": HOST})
        assert conn.getresponse().getheader("Location") == f"https://{HOST}/readyz"
        conn.close()
        journal = (root / "journal" / "keyhouse.log").read_text()
        assert "Handling signal: hup" in journal  # the upgrade's `systemctl reload keyhouse`
        worker = (root / "journal" / "keyhouse-worker.log").read_text()
        if "Unknown command: 'db_worker'" in worker:
            # Until django-tasks is merged there is no db_worker to run: the one unit that cannot stay up.
            figures.fact(PART, "worker unit", "no db_worker command yet")
        else:
            assert (root / "run" / "keyhouse-worker.pid").exists() and _alive(root, "keyhouse-worker"), worker[-2000:]
            figures.fact(PART, "worker unit", "running")
        figures.sent(PART, 5)
        figures.fact(PART, "deploy.md", f"{runnable} blocks on a clean clone in {seconds:.0f} s; /readyz ok over https")
    finally:
        try:
            stop_everything(root)
        finally:  # a unit that would not stop still leaves no database or directory behind
            for log in sorted((root / "journal").glob("*.log")) + [root / "nginx" / "keyhouse.access.log"]:
                if log.exists():
                    evidence.text(f"deploy test {log.name}", log.read_text(errors="replace"))
            _pg(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            shutil.rmtree(root, ignore_errors=True)


def _alive(root: Path, unit: str) -> bool:
    from tests.deploy.follow_deploy_md import _pid

    return _pid(root, unit) is not None
