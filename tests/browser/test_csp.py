"""The Content-Security-Policy in Chromium: the API docs and Django admin work under it, and the
browser reports no violation on any of their pages (tests/browser/conftest.py fails any test
that causes one, on every page the browser tests visit)."""
import re

import pytest
from playwright.sync_api import expect

from tests.factories import PASSWORD, UserFactory, make_key

pytestmark = pytest.mark.browser


def policy(response) -> dict[str, str]:
    header = response.headers["content-security-policy"]
    return dict(part.strip().partition(" ")[::2] for part in header.split(";"))


def test_every_page_carries_the_policy(page, alice):
    directives = policy(page.goto("/accounts/login/"))
    assert directives["default-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'" and directives["form-action"] == "'self'"
    assert directives["base-uri"] == "'self'"
    assert "unsafe-inline" not in str(directives) and "unsafe-eval" not in str(directives)


def test_the_check_catches_an_inline_style(page, alice, csp_violations):
    """The fixture's witness works: an inline style is refused and reported."""
    page.goto("/accounts/login/")
    page.evaluate("document.body.setAttribute('style', 'background: red')")
    page.evaluate("0")
    assert [v["directive"] for v in csp_violations if "directive" in v] == ["style-src-attr"]
    csp_violations.clear()


def test_swagger_ui_shows_and_runs_the_operations(page, live_server, alice):
    """Swagger UI parses a megabyte of script, then fetches the schema, which the first request
    builds (0.8 s on a quiet machine): on a busy CI runner the heading came after 5 s, so the first
    wait is as long as Redoc's."""
    _, raw = make_key(alice, name="Docs")
    response = page.goto("/api/docs/")
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    expect(page.get_by_role("heading", name=re.compile("Keyhouse API"))).to_be_visible(timeout=45_000)
    operation = page.locator(".opblock").filter(has_text="/api/v1/me").first
    expect(operation).to_be_visible()
    expect(page.locator(".opblock")).not_to_have_count(0)

    page.get_by_role("button", name="Authorize").click()
    dialog = page.locator(".modal-ux")
    dialog.locator("input").first.fill(raw)
    dialog.get_by_role("button", name="Apply credentials").first.click()
    dialog.get_by_role("button", name="Close", exact=True).first.click()

    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    expect(operation.locator(".live-responses-table tbody td.response-col_status").first).to_contain_text("200")
    expect(operation.locator(".live-responses-table")).to_contain_text('"username": "alice"')


def test_redoc_shows_the_operations_and_searches(page):
    """Redoc parses a megabyte of script and lays out the whole schema: on a busy machine that
    takes a while, hence the longer waits."""
    page.goto("/api/redoc/")
    expect(page.get_by_role("heading", name=re.compile("Keyhouse API"))).to_be_visible(timeout=45_000)
    expect(page.get_by_text("/api/v1/me").first).to_be_attached()
    page.get_by_placeholder("Search...").fill("revoke")  # the index is built in a blob: worker
    expect(page.locator("[data-role='search:results'] li").first).to_be_visible(timeout=15_000)


def sign_in_to_admin(page, username: str) -> None:
    page.goto("/admin/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()


def test_django_admin_works_under_the_policy(page, admin, alice):
    key, _ = make_key(alice, name="Alice's laptop")
    sign_in_to_admin(page, "adam")
    for url, heading in [
        ("/admin/keys/apikey/", "Select api key to change"),
        (f"/admin/keys/apikey/{key.pk}/change/", "Change api key"),
        ("/admin/keys/auditevent/", "Select audit event to view"),
        ("/admin/accounts/membership/", "Select membership to change"),
        ("/admin/usage/requestlog/", "Select request log to view"),
        ("/admin/auth/user/", "Select user to view"),
    ]:
        page.goto(url)
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
    page.goto("/admin/keys/apikey/")
    expect(page.locator(".key-status-active").first).to_have_css("color", "rgb(6, 118, 71)")

    # The add form: the owner autocomplete (select2), the calendar and the clock.
    page.goto("/admin/keys/apikey/add/")
    page.get_by_label("Company").select_option(label="Acme")
    page.locator(".select2-selection").click()
    page.locator(".select2-search__field").fill("ali")
    page.get_by_role("option", name="alice").click()
    page.get_by_label("Name").fill("Made in admin")
    page.get_by_role("link", name="Choose a Date").click()
    calendar = page.locator(".calendarbox")
    expect(calendar).to_be_visible()
    calendar.locator(".calendarnav-next").click()
    calendar.get_by_role("link", name="15", exact=True).click()
    page.get_by_role("link", name="Choose a Time").click()
    page.locator(".clockbox").get_by_role("link", name="Noon").click()
    page.get_by_role("button", name="Save", exact=True).click()
    field = page.get_by_label("API key")
    expect(field).to_have_value(re.compile(r"sk_live_"))
    page.wait_for_load_state()  # the field is parsed before the script that selects it on focus runs
    field.focus()
    assert page.evaluate("document.activeElement.selectionEnd - document.activeElement.selectionStart") == 46


def test_the_superusers_lockout_admin_works_under_the_policy(page):
    UserFactory(username="root", is_superuser=True, is_staff=True)
    sign_in_to_admin(page, "root")
    page.goto("/admin/axes/accessattempt/")
    expect(page.get_by_role("heading", name="Select access attempt to view")).to_be_visible()
