"""In Chromium: regenerate with a one-hour grace period from a key's page, then
narrow the key's scopes there, each checked over real HTTP as a script would see it."""
import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import KEY_RE, SCREENSHOTS, call_me, sign_in
from tests.factories import make_key

pytestmark = pytest.mark.browser


def test_regenerate_with_a_grace_period_then_restrict_the_scopes(page, live_server, alice):
    key, old = make_key(alice, name="Deploy bot")
    assert call_me(live_server, old, "/api/v1/demo/echo")[0] == 200
    sign_in(page, "alice")
    page.get_by_role("link", name="Deploy bot", exact=True).click()

    page.get_by_role("link", name="Regenerate").click()
    confirm = page.get_by_role("dialog", name="Regenerate “Deploy bot”?")
    expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
    grace = confirm.get_by_role("group", name="When should the current value stop working?")
    expect(grace.get_by_role("radio", name="Now")).to_be_checked()
    grace.get_by_role("radio", name="In 1 hour").check()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    confirm.screenshot(path=SCREENSHOTS / "regenerate-grace.png")
    confirm.get_by_role("button", name="Regenerate").click()

    shown = page.get_by_role("dialog", name="New value for “Deploy bot”")
    new = shown.get_by_role("textbox", name="API key").input_value()
    assert KEY_RE.fullmatch(new) and new != old
    expect(shown).to_contain_text(f"The old value {old[:12]}… keeps working until")
    shown.get_by_role("button", name="I have copied it, close").click()
    # Nothing was copied: the key stays, with a warning, until closed a second time.
    expect(shown.get_by_role("status")).to_contain_text("You have not copied the key")
    shown.get_by_role("button", name="Close without copying").click()
    expect(page).to_have_url(re.compile(rf"/api-keys/{key.pk}/$"))

    status_old, body_old = call_me(live_server, old)
    status_new, body_new = call_me(live_server, new)
    assert (status_old, status_new) == (200, 200)
    assert body_old["api_key"]["id"] == body_new["api_key"]["id"] == str(key.pk)
    details = page.get_by_role("region", name="Overview")
    expect(details).to_contain_text(f"{new[:12]}…")
    expect(details.locator("#previous-value")).to_contain_text(f"{old[:12]}… still works until")

    restrictions = page.locator("details#restrictions")
    restrictions.get_by_text("Restrictions and scopes").click()  # the panel opens on demand
    restrictions.get_by_role("checkbox", name="all Every API area").uncheck()
    restrictions.get_by_role("checkbox", name="keys:read").check()
    restrictions.get_by_label("Allowed IP addresses").fill("10.0.0.7/24")
    restrictions.get_by_role("button", name="Save restrictions").click()
    expect(page.get_by_role("alert").first).to_contain_text("The restrictions were not saved")
    expect(restrictions).to_contain_text("'10.0.0.7/24' is not an IP address or CIDR range")
    assert call_me(live_server, new, "/api/v1/demo/echo")[0] == 200  # nothing changed

    restrictions.get_by_label("Allowed IP addresses").fill("127.0.0.1\n::1")
    restrictions.get_by_role("button", name="Save restrictions").click()
    expect(restrictions.get_by_role("status")).to_contain_text(
        "Restrictions of “Deploy bot” changed: IP addresses: any → 127.0.0.1, ::1; scopes: all → keys:read.")
    expect(page).to_have_url(re.compile(r"#restrictions$"))
    expect(restrictions.locator("dl")).to_contain_text("Scopes keys:read")

    for raw in (new, old):
        status, body = call_me(live_server, raw, "/api/v1/demo/echo")
        assert (status, body["code"]) == (403, "scope_not_allowed")
        assert call_me(live_server, raw)[0] == 200  # /me needs no scope
    page.locator("#history summary").click()
    expect(page.locator("#history").get_by_role("row").nth(1)).to_contain_text("Restrictions changed")
    restrictions.scroll_into_view_if_needed()
    restrictions.screenshot(path=SCREENSHOTS / "restrictions.png")
