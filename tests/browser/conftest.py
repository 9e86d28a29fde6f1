"""Real Chromium, driven by Playwright's sync API, against pytest-django's live server.

The browser is Debian's `chromium` (or whichever CHROMIUM_PATH `make test` found), never one
downloaded by `playwright install`: CI has no internet access. A missing browser fails the
run with instructions instead of skipping the tests.
"""
import contextlib
import os
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
DESKTOP = {"width": 1440, "height": 900}

expect.set_options(timeout=5_000)


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM_PATH).is_file():
        pytest.fail(
            f"No Chromium at {CHROMIUM_PATH}. Install Debian's package (apt-get install chromium), "
            "or run `.venv/bin/playwright install chromium` where the internet is reachable; "
            "`make test` finds either, or set CHROMIUM_PATH to the browser binary.",
            pytrace=False,
        )
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        # Playwright's sync API runs an event loop in this thread; Django's ORM refuses to
        # run beside one unless told the loop never awaits around ORM calls, true here.
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# Every document of every page reports each Content-Security-Policy violation it sees, in any
# frame, to the test run (the event fires only where JavaScript runs; Chromium's console line is
# the second witness).
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => window.reportCspViolation({
  page: location.href, directive: event.effectiveDirective, blocked: event.blockedURI,
  source: event.sourceFile, line: event.lineNumber, sample: event.sample,
}));
"""


@pytest.fixture
def csp_violations():
    """What the browser refused under the Content-Security-Policy during the test; any left at
    the end fails it. A test that causes one on purpose reads and clears the list."""
    return []


@pytest.fixture
def new_page(chromium, live_server, transactional_db, csp_violations):
    """new_page(**context_options): a page in a fresh browser profile on the live server."""
    contexts = []

    def open_page(**options):
        options.setdefault("viewport", DESKTOP)
        context = chromium.new_context(base_url=live_server.url, **options)
        if options.get("java_script_enabled", True):
            context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
        context.expose_binding("reportCspViolation", lambda source, violation: csp_violations.append(violation))
        context.add_init_script(REPORT_CSP_VIOLATIONS)
        context.on("console", lambda message: csp_violations.append({"page": message.page and message.page.url,
                                                                      "console": message.text})
                   if "Content Security Policy" in message.text else None)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        for opened in context.pages:
            with contextlib.suppress(Exception):  # a page that crashed or closed has nothing more to say
                opened.evaluate("0")  # reports already sent arrive before this answer
        context.close()
    if csp_violations:
        pytest.fail("Content-Security-Policy violations:\n" + "\n".join(map(str, csp_violations)), pytrace=False)


@pytest.fixture
def page(new_page):
    return new_page()
