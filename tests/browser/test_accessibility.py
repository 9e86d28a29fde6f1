"""axe-core (from npm, node_modules/axe-core) finds no violation on any dashboard page or
admin key page, filled as in real use: keys in every state, a grace period, a 100-character
name, a key just made. Lighthouse scores the list, detail and company pages."""
import json
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.access import OPERATOR
from keys.services import api_key_regenerate, api_key_revoke
from tests.browser.helpers import screenshot, sign_in
from tests.browser.test_csp import sign_in_to_admin
from tests.factories import make_key

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
LIGHTHOUSE = ROOT / "node_modules" / ".bin" / "lighthouse"
LONG_NAME = ("Production server for the European customers of the payments team, "
             "rotated every quarter by ops")[:100]
LIGHTHOUSE_MINIMUM = 0.95


@pytest.fixture
def keys(admin, alice):
    """adam's keys in every state, and one of alice's for the company view."""
    now = timezone.now()
    live, _ = make_key(admin, name=LONG_NAME)
    api_key_regenerate(api_key=live, grantor=OPERATOR, grace_period_seconds=24 * 3600)
    make_key(admin, name="CI runner", mode="test")
    make_key(admin, name="Expiring next week", expires_at=now + timedelta(days=5))
    api_key_revoke(api_key=make_key(admin, name="Old export")[0])
    make_key(alice, name="Alice's laptop")
    return live


def axe_violations(page) -> list[str]:
    """Runs axe-core in the page (evaluated through the DevTools protocol, which the page's
    Content-Security-Policy does not govern) and names each violation and where it is."""
    if not AXE.is_file():
        pytest.fail(f"No axe-core at {AXE}: run `make contract-tools` (npm ci).", pytrace=False)
    page.evaluate(AXE.read_text())
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in result["violations"]]


def assert_none(found: dict) -> None:
    lines = [f"{path}: {violation}" for path, violations in found.items() for violation in violations]
    assert not lines, "\n".join(lines)


def test_no_axe_violation_on_any_dashboard_page(new_page, keys):
    page = new_page()
    sign_in(page, "adam")
    base = f"/settings/advanced/api-keys/{keys.pk}"
    pages = ["/settings/advanced/api-keys/", "/settings/advanced/api-keys/?q=nothing",
             "/settings/advanced/api-keys/new/", f"{base}/", f"{base}/rename/", f"{base}/revoke/",
             f"{base}/regenerate/", "/settings/advanced/api-keys/company/"]
    found = {}
    for path in pages:
        page.goto(path)
        found[path] = axe_violations(page)
        if path.endswith("/company/"):
            screenshot(page, "company")
    # The list with its dialogs open: create, a refused blank name, the key shown once.
    page.goto("/settings/advanced/api-keys/")
    page.get_by_role("link", name="Generate New API-key").first.click()
    create = page.get_by_role("dialog", name="Generate New API-key")
    found["create dialog"] = axe_violations(page)
    create.get_by_label("Name").fill(" ")
    create.get_by_role("button", name="Create").click()
    expect(page.get_by_role("dialog", name="Generate New API-key")).to_contain_text("Give the key a name")
    found["create dialog, refused"] = axe_violations(page)
    create = page.get_by_role("dialog", name="Generate New API-key")
    create.get_by_label("Name").fill("Made for axe")
    create.get_by_role("button", name="Create").click()
    shown = page.get_by_role("dialog", name="Your new API key “Made for axe”")
    shown.get_by_role("button", name="Test this key").click()
    expect(shown.locator("#key-test-result")).to_contain_text("200 OK")
    shown.get_by_text("Ready-to-paste snippets").click()
    found["shown once"] = axe_violations(page)
    assert_none(found)


def test_no_axe_violation_on_the_admin_key_pages_and_the_new_key_can_be_copied(new_page, keys):
    # axe's own checks add a <style> to Django's admin forms, which the policy refuses; the admin
    # pages are proven under the policy in test_csp.
    page = new_page(bypass_csp=True)
    sign_in_to_admin(page, "adam")
    found = {}
    for path in ("/admin/keys/apikey/", f"/admin/keys/apikey/{keys.pk}/change/", "/admin/keys/apikey/add/"):
        page.goto(path)
        found[path] = axe_violations(page)
    page.get_by_label("Company").select_option(label="Acme")
    page.locator(".select2-selection").click()
    page.locator(".select2-search__field").fill("ada")
    page.get_by_role("option", name="adam").click()
    page.get_by_label("Name").fill("Made in admin")
    page.get_by_role("button", name="Save", exact=True).click()
    field = page.get_by_label("API key")
    raw = field.input_value()
    expect(field).to_have_css("font-family", "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace")
    assert field.evaluate("f => f.scrollWidth <= f.clientWidth")  # the whole key, no scrolling
    page.get_by_role("button", name="Copy key").click()
    expect(page.locator("#raw-key-copied")).to_have_text("Copied to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == raw
    found["key created"] = axe_violations(page)
    screenshot(page, "admin-key-created")
    assert_none(found)


def lighthouse(url: str, cookie: str) -> dict:
    """One Lighthouse run (desktop preset, accessibility and best practices only) on a signed-in page."""
    if not LIGHTHOUSE.is_file():
        pytest.fail(f"No Lighthouse at {LIGHTHOUSE}: run `make contract-tools` (npm ci).", pytrace=False)
    from tests.browser.conftest import CHROMIUM_PATH
    run = subprocess.run(
        [str(LIGHTHOUSE), url, "--preset=desktop", "--only-categories=accessibility,best-practices",
         "--output=json", "--output-path=stdout", "--quiet", "--max-wait-for-load=15000",
         "--chrome-flags=--headless=new --no-sandbox --disable-gpu --no-first-run",
         f"--extra-headers={json.dumps({'Cookie': cookie})}"],
        capture_output=True, text=True, timeout=180, env={"PATH": "/usr/bin:/bin", "CHROME_PATH": CHROMIUM_PATH,
                                                          "HOME": str(ROOT / "var")},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout)
    failed = [f"{audit['id']}: {audit['title']}" for audit in report["audits"].values()
              if audit.get("score") is not None and audit["score"] < 1 and audit.get("scoreDisplayMode") == "binary"]
    return ({name: category["score"] for name, category in report["categories"].items()}
            | {"failed": failed, "url": report["finalDisplayedUrl"]})


@pytest.mark.parametrize("path", ["/settings/advanced/api-keys/", "detail", "/settings/advanced/api-keys/company/"])
def test_lighthouse_scores_the_key_pages_at_least_95(new_page, live_server, keys, path):
    page = new_page()
    sign_in(page, "adam")
    session = next(c for c in page.context.cookies() if c["name"] == "sessionid")
    url = live_server.url + (f"/settings/advanced/api-keys/{keys.pk}/" if path == "detail" else path)
    scores = lighthouse(url, f"sessionid={session['value']}")
    assert scores["url"] == url  # the signed-in page itself, not the sign-in page it would redirect to
    assert scores["accessibility"] >= LIGHTHOUSE_MINIMUM, scores
    assert scores["best-practices"] >= LIGHTHOUSE_MINIMUM, scores
