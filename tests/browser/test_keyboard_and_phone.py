"""Keyboard only: every action is reachable, focus goes into dialogs and back, Escape closes.
And the page at a phone's width."""
import pytest
from playwright.sync_api import expect

from tests.browser.helpers import row_action, screenshot, sign_in
from tests.factories import make_key

pytestmark = pytest.mark.browser


def tab_to(page, locator, limit: int = 60) -> None:
    """Press Tab until `locator` has focus, as a keyboard user would."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if locator.evaluate("element => element === document.activeElement"):
            return
    raise AssertionError(f"Tab never reached {locator}")


def test_create_copy_rename_and_revoke_by_keyboard(page, alice):
    make_key(alice, name="Existing key")
    sign_in(page, "alice")
    generate = page.get_by_role("link", name="Generate New API-key")

    tab_to(page, generate)
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Generate New API-key")
    expect(dialog.get_by_label("Name")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(generate).to_be_focused()

    page.keyboard.press("Enter")
    page.keyboard.type("Keyboard key")
    page.keyboard.press("Enter")
    shown = page.get_by_role("dialog", name="Your new API key “Keyboard key”")
    expect(shown.get_by_label("API key")).to_be_focused()
    page.keyboard.press("Tab")
    expect(shown.get_by_role("button", name="Copy key")).to_be_focused()
    page.keyboard.press("Enter")
    expect(shown.get_by_role("status")).to_contain_text("Copied")
    page.keyboard.press("Escape")
    expect(shown).to_have_count(0)  # closed and removed, key and all

    menu = page.locator("summary", has_text="Actions for “Keyboard key”")
    tab_to(page, menu)
    page.keyboard.press("Enter")  # opens the row's menu
    rename = page.get_by_role("link", name="Rename “Keyboard key”")
    page.keyboard.press("Tab")
    expect(rename).to_be_focused()
    page.keyboard.press("Enter")
    field = page.get_by_label("New name for “Keyboard key”")
    expect(field).to_be_focused()
    page.keyboard.press("Escape")
    expect(field).to_be_hidden()
    expect(rename).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.type("Keyboard key v2")  # the old name is selected, so typing replaces it
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Renamed “Keyboard key” to “Keyboard key v2”")

    menu = page.locator("summary", has_text="Actions for “Keyboard key v2”")
    tab_to(page, menu)
    page.keyboard.press("Enter")
    revoke = page.get_by_role("link", name="Revoke key “Keyboard key v2”")
    tab_to(page, revoke)
    page.keyboard.press("Enter")
    confirm = page.get_by_role("dialog", name="Revoke “Keyboard key v2” (sk_")
    expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()  # the safe choice first
    page.keyboard.press("Escape")
    expect(confirm).to_be_hidden()
    expect(revoke).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(confirm.get_by_role("button", name="Revoke key")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Revoked “Keyboard key v2”")


def test_phone_width_has_no_sideways_scrolling(new_page, alice):
    for name in ("Production Server", "Development Testing", "A rather long key name for the data pipeline"):
        make_key(alice, name=name)
    page = new_page(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    sign_in(page, "alice")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    revoke = row_action(page, "Production Server", "Revoke key “Production Server”")
    revoke.scroll_into_view_if_needed()
    box = revoke.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 375
    screenshot(page, "phone")
    page.get_by_role("link", name="Generate New API-key").click()
    dialog = page.get_by_role("dialog", name="Generate New API-key")
    box = dialog.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 375
