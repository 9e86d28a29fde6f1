"""The panel that shows a new key once: the whole key readable at any width, a Copy that
confirms, snippets that work as pasted, and no closing by accident before the key is copied."""
import pytest
from playwright.sync_api import expect

from tests.browser.helpers import KEY_RE, call_me, screenshot, sign_in

pytestmark = pytest.mark.browser

LONG_NAME = "Nightly export to the data warehouse of the European payments team, rotated every quarter by ops"


def create_key(page, name: str):
    page.get_by_role("link", name="Generate New API-key").first.click()
    create = page.get_by_role("dialog", name="Generate New API-key")
    create.get_by_label("Name").fill(name)
    create.get_by_role("button", name="Create").click()
    shown = page.get_by_role("dialog", name=f"Your new API key “{name}”")
    expect(shown).to_be_visible()
    return shown


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 800}, {"width": 390, "height": 844}],
                         ids=["1280x800", "390x844"])
def test_the_whole_key_is_visible_and_the_snippets_work_as_pasted(new_page, live_server, alice, viewport):
    page = new_page(viewport=viewport)
    sign_in(page, "alice")
    shown = create_key(page, LONG_NAME[:100])
    field = shown.get_by_label("API key")
    raw = field.input_value()
    assert KEY_RE.fullmatch(raw)
    # Nothing of the key hides behind the field's edge: it wraps instead of scrolling.
    assert field.evaluate("f => f.scrollWidth <= f.clientWidth && f.scrollHeight <= f.clientHeight + 1")
    box = field.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]

    shown.get_by_text("Ready-to-paste snippets").click()
    curl = shown.locator("#snippet-curl")
    expect(curl).to_have_text(f'curl -s {live_server.url}/api/v1/me -H "API-Key: {raw}"')
    expect(shown.locator("#snippet-env")).to_have_text(f"KEYHOUSE_API_KEY={raw}")
    shown.get_by_role("button", name="Copy the curl command").click()
    expect(shown.get_by_role("status")).to_contain_text("Copied to the clipboard")
    assert page.evaluate("navigator.clipboard.readText()") == curl.inner_text()
    assert call_me(live_server, raw)[0] == 200

    assert raw not in page.url
    assert all(raw not in cookie["value"] for cookie in page.context.cookies())
    shown.get_by_role("button", name="I have copied it, close").click()  # copied: closes at once
    expect(shown).to_have_count(0)
    # The panel is taken out of the page after it closes: wait for that, then look.
    page.wait_for_function("raw => !document.documentElement.outerHTML.includes(raw)", arg=raw, timeout=5000)
    assert raw not in page.content()


def test_closing_before_copying_asks_again(page, alice):
    sign_in(page, "alice")
    shown = create_key(page, "Uncopied")
    page.keyboard.press("Escape")
    expect(shown).to_be_visible()
    expect(shown.get_by_role("status")).to_contain_text("You have not copied the key")
    expect(shown.get_by_role("button", name="Copy key")).to_be_focused()
    shown.get_by_role("button", name="Copy key").click()
    expect(shown.get_by_role("button", name="Copied")).to_be_visible()
    page.keyboard.press("Escape")
    expect(shown).to_have_count(0)


def test_closing_twice_leaves_without_the_key(page, alice):
    sign_in(page, "alice")
    shown = create_key(page, "Left behind")
    shown.get_by_role("button", name="I have copied it, close").click()
    expect(shown.get_by_role("status")).to_contain_text("cannot be shown again")
    shown.get_by_role("button", name="Close without copying").click()
    expect(shown).to_have_count(0)


def test_a_form_left_open_while_another_tab_reloads_still_makes_its_key(page, alice):
    sign_in(page, "alice")
    other_tab = page.context.new_page()
    for _ in range(21):
        other_tab.goto("/settings/advanced/api-keys/")
    other_tab.close()
    shown = create_key(page, "From the first tab")
    assert KEY_RE.fullmatch(shown.get_by_label("API key").input_value())


def test_test_this_key_calls_the_api_with_the_key_in_its_header_and_shows_the_answer(page, alice):
    sign_in(page, "alice")
    shown = create_key(page, "Checked from the browser")
    raw = shown.get_by_label("API key").input_value()
    with page.expect_request("**/api/v1/me") as sent:
        shown.get_by_role("button", name="Test this key").click()
    result = shown.locator("#key-test-result")
    expect(result).to_contain_text("200 OK: the key works")
    expect(result).to_contain_text("“Checked from the browser”")
    expect(result).to_contain_text("Acme")
    screenshot(page, "key-tested")
    request = sent.value
    assert request.headers["api-key"] == raw and raw not in request.url and "cookie" not in request.headers
    stored = page.evaluate("JSON.stringify(localStorage) + JSON.stringify(sessionStorage)")
    assert raw not in stored


def test_a_blank_name_is_refused_in_the_same_dialog(page, alice):
    sign_in(page, "alice")
    page.get_by_role("link", name="Generate New API-key").first.click()
    create = page.get_by_role("dialog", name="Generate New API-key")
    create.get_by_label("Name").fill("   ")
    create.get_by_role("button", name="Create").click()
    create = page.get_by_role("dialog", name="Generate New API-key")
    expect(create).to_be_visible()
    expect(create).to_contain_text("Give the key a name")
    expect(create.get_by_label("Name")).to_be_focused()
    expect(page.get_by_role("heading", level=1)).to_have_text("API-keys")  # the list, not another page
