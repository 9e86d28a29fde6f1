"""Sign-in throttling in Chromium: wrong passwords until the sign-in page says it is paused,
when to try again and who can unlock; then even the right password is refused there and on
the admin's sign-in page."""
import re

import pytest
from playwright.sync_api import expect

from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


def submit(page, url: str, username: str, password: str, button: str):
    page.goto(url)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name=button).click()
    return navigation.value


def test_wrong_passwords_until_the_page_says_sign_in_is_paused(page, admin):
    for attempt in range(1, 20):
        response = submit(page, "/accounts/login/", "adam", f"guess {attempt}", "Sign in")
        assert response.status == 200
        expect(page.get_by_role("alert")).to_contain_text("That username and password do not match")

    response = submit(page, "/accounts/login/", "adam", "guess 20", "Sign in")
    assert response.status == 429 and int(response.headers["retry-after"]) > 14 * 60
    expect(page.get_by_role("heading", name="Sign-in paused")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text(
        re.compile(r"Too many wrong passwords for “adam” from your address: signing in to this\s+account from here "
                   r"is paused until \d\d:\d\d UTC\."))
    expect(page.get_by_text(re.compile(r"Try again after \d\d:\d\d UTC \(in 1[45]\xa0minutes\)"))).to_be_visible()
    expect(page.get_by_text("a Keyhouse administrator can also unlock the account sooner")).to_be_visible()

    response = submit(page, "/accounts/login/", "adam", PASSWORD, "Sign in")
    assert response.status == 429
    expect(page.get_by_role("heading", name="Sign-in paused")).to_be_visible()
    response = submit(page, "/admin/login/", "adam", PASSWORD, "Log in")
    assert response.status == 429
    expect(page.get_by_role("heading", name="Sign-in paused")).to_be_visible()

    page.get_by_role("link", name="Back to sign-in").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
