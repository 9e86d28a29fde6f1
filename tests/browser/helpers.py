import json
import re
import urllib.error
import urllib.request
from pathlib import Path

from playwright.sync_api import expect

from tests.factories import PASSWORD

LIST_URL_RE = re.compile(r".*/settings/advanced/api-keys/$")
KEY_RE = re.compile(r"sk_(?:live|test)_[0-9A-Za-z]{38}")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def sign_in(page, username: str) -> None:
    """Through the login form, as a person does; `/` leads to the key page."""
    page.goto("/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(LIST_URL_RE)


def call_me(live_server, raw: str, path: str = "/api/v1/me") -> tuple[int, dict]:
    """GET /api/v1/me (or another keyed path) over real HTTP with the key, as a script would."""
    request = urllib.request.Request(f"{live_server.url}{path}", headers={"API-Key": raw})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def row(page, name: str):
    return page.locator("tr", has=page.get_by_role("link", name=name, exact=True))


def row_action(page, name: str, action: str):
    """Opens the row's Actions menu, as a person does, and gives its `action` item."""
    key_row = row(page, name)
    key_row.locator("summary").click()
    return key_row.get_by_role("link", name=action)


def screenshot(page, name: str, *, full_page: bool = False) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=full_page)
