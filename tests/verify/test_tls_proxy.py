"""Part 12: Keyhouse behind a real proxy. Debian's nginx, serving docs/nginx/keyhouse.conf with
a self-signed certificate for keys.test, in front of gunicorn on the production settings; a
real Chromium signs in over https, generates a key, restricts it to one address, and revokes
it. The key is used from other loopback addresses (127.0.0.2, 127.0.0.3) than the one nginx
talks to gunicorn from (127.0.0.1), so the address the restriction and the request log see can
only be the one nginx forwarded, and a forged X-Forwarded-For sent along must change nothing.
"""
import http.client
import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.browser.conftest import CHROMIUM_ARGS, CHROMIUM_PATH
from tests.browser.helpers import KEY_RE
from tests.gunicorn_server import PASSWORD, GunicornServer
from tests.nginx_server import HOST_PLACEHOLDER, SITE, NginxServer, free_port, move_site, self_signed, unverified
from tests.verify.live import keep_evidence, sql

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
                         ready=("/healthz", 200, {"Host": HOST}))
    app.manage("collectstatic", "--noinput", "-v0")
    app.start()
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


def https(proxy, method: str, path: str, *, source: str, headers: dict) -> tuple[int, dict, bytes]:
    """One request to nginx over TLS from a loopback address of our choosing."""
    conn = http.client.HTTPSConnection("127.0.0.1", proxy.https_port, timeout=30, context=unverified(),
                                       source_address=(source, 0))
    try:
        conn.request(method, path, headers={"Host": f"{HOST}:{proxy.https_port}", **headers})
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

            page.get_by_role("link", name="Behind nginx", exact=True).click()
            restrictions = page.get_by_role("region", name="Restrictions")
            restrictions.get_by_label("Allowed IP addresses").fill("127.0.0.2")
            restrictions.get_by_role("button", name="Save restrictions").click()
            expect(page.get_by_role("status")).to_contain_text("IP addresses: any → 127.0.0.2")

            # Allowed: from 127.0.0.2, with a forged X-Forwarded-For and a request id of the client's own.
            allowed = https(proxy, "GET", "/api/v1/me", source="127.0.0.2", headers={
                "API-Key": raw, "X-Forwarded-For": "198.51.100.7", "X-Request-Id": "chosen-by-the-client"})
            # Refused: from 127.0.0.3, forging the allowed address.
            refused = https(proxy, "GET", "/api/v1/me", source="127.0.0.3",
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
            for source, rid in zip(("127.0.0.2", "127.0.0.3"), ids):
                assert re.search(rf"^{re.escape(source)} .*\"GET /api/v1/me HTTP/1\.1\" .* rid={rid}$", access_log, re.M)

            page.goto("/settings/advanced/api-keys/")
            page.locator("tr", has=page.get_by_role("link", name="Behind nginx", exact=True)).get_by_role(
                "link", name="Revoke key").click()
            page.get_by_role("dialog", name="Revoke “Behind nginx”?").get_by_role("button", name="Revoke key").click()
            expect(page.get_by_role("status")).to_contain_text("Revoked “Behind nginx”")
            assert CSRF_REFUSED not in page.content()
        finally:
            context.close()
            browser.close()

    after = https(proxy, "GET", "/api/v1/me", source="127.0.0.2", headers={"API-Key": raw})
    assert after[0] == 401 and b'"revoked_api_key"' in after[2], after
    # Sign-in, create, close, restrictions, revoke: every form post went through, none refused.
    assert len(posts) >= 4 and all(status in (200, 302, 303) for _, status in posts), posts
    figures.sent(PART, 3)
    figures.fact(PART, "client address seen", "127.0.0.2 = nginx's $remote_addr (forged X-Forwarded-For ignored)")
    figures.fact(PART, "request id", "nginx log = response = request-log row")
    figures.fact(PART, "form posts refused", f"{sum(s == 403 for _, s in posts)}/{len(posts)}")
