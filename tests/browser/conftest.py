"""Real Chromium, driven by Playwright's sync API, against pytest-django's live server.

The browser is Debian's `chromium` (or whichever CHROMIUM_PATH `make test` found), never one
downloaded by `playwright install`: CI has no internet access. A missing browser fails the
run with instructions instead of skipping the tests.
"""
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


@pytest.fixture
def new_page(chromium, live_server, transactional_db):
    """new_page(**context_options): a page in a fresh browser profile on the live server."""
    contexts = []

    def open_page(**options):
        options.setdefault("viewport", DESKTOP)
        context = chromium.new_context(base_url=live_server.url, **options)
        if options.get("java_script_enabled", True):
            context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()
