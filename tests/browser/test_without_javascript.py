"""Create, copy, regenerate and revoke with JavaScript turned off: plain pages and forms."""
import pytest
from playwright.sync_api import expect

from tests.browser.helpers import KEY_RE, call_me, row_action, sign_in

pytestmark = pytest.mark.browser


def test_every_action_works_without_javascript(new_page, live_server, alice):
    page = new_page(java_script_enabled=False)
    sign_in(page, "alice")
    expect(page.get_by_text("No API keys yet")).to_be_visible()

    page.get_by_role("link", name="Generate New API-key").first.click()
    expect(page).to_have_url(f"{live_server.url}/settings/advanced/api-keys/new/")
    page.get_by_label("Name").fill("Nightly export")
    page.get_by_label("Never expires").check()
    page.get_by_label("Test", exact=True).check()
    page.get_by_role("button", name="Create").click()

    # The key is an open panel in the page, in a read-only field to select and copy.
    field = page.get_by_role("textbox", name="API key")
    expect(field).to_be_visible()
    expect(field).to_have_attribute("readonly", "")
    expect(page.get_by_role("button", name="Copy key")).to_be_hidden()  # needs JavaScript
    expect(page.get_by_text("select all (Ctrl+A or ⌘A) and copy")).to_be_visible()
    raw = field.input_value()
    assert raw.startswith("sk_test_") and call_me(live_server, raw)[0] == 200
    page.get_by_role("button", name="I have copied it, close").click()  # <form method="dialog">
    expect(field).to_be_hidden()

    row_action(page, "Nightly export", "Regenerate").click()
    expect(page.get_by_role("heading", name="Regenerate “Nightly export”?")).to_be_visible()
    page.get_by_role("button", name="Regenerate").click()
    new = page.get_by_role("textbox", name="API key").input_value()
    assert KEY_RE.fullmatch(new) and new != raw
    assert (call_me(live_server, raw)[0], call_me(live_server, new)[0]) == (401, 200)

    page.goto("/settings/advanced/api-keys/")
    row_action(page, "Nightly export", "Rename").click()
    page.get_by_label("Name").fill("Nightly export (old)")
    page.get_by_role("button", name="Save name").click()
    expect(page.get_by_role("status")).to_contain_text("Renamed “Nightly export” to “Nightly export (old)”")

    row_action(page, "Nightly export (old)", "Revoke key").click()
    expect(page.get_by_role("heading", name="Revoke “Nightly export (old)”?")).to_be_visible()
    page.get_by_role("button", name="Revoke key").click()
    expect(page.get_by_role("status")).to_contain_text("Revoked “Nightly export (old)”")
    assert call_me(live_server, new)[0] == 401
