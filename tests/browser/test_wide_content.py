"""The pages people manage many keys on, filled as they get in real use: 50 keys, names of the
full 100 characters (with and without spaces), a regenerate in its grace period, test and
expiring keys. At a laptop's and a phone's width no page scrolls sideways, and every row's
actions stay on screen."""
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.access import OPERATOR
from keys.services import api_key_regenerate
from tests.browser.helpers import row, sign_in
from tests.factories import make_key

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
LONG_WORD = "Nightly-export-to-the-data-warehouse-" * 3
LONG_WORD = LONG_WORD[:100]
LONG_WORDS = ("Production server for the European customers of the payments team, "
              "rotated every quarter by ops")[:100]


@pytest.fixture
def many_keys(admin, alice):
    now = timezone.now()
    for number in range(44):
        make_key(admin, name=f"Service key {number:02}", mode="test" if number % 3 == 0 else "live")
    make_key(admin, name="Expiring next week", expires_at=now + timedelta(days=5))
    make_key(alice, name=LONG_WORDS)
    make_key(admin, name=LONG_WORDS)
    graced, _ = make_key(admin, name=LONG_WORD)
    api_key_regenerate(api_key=graced, grantor=OPERATOR, grace_period_seconds=7 * 24 * 3600)
    return graced


def assert_no_sideways_scroll(page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def assert_on_screen(locator, width: int) -> None:
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, box


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["1280x800", "390x844"])
@pytest.mark.parametrize("path", ["/settings/advanced/api-keys/", "/settings/advanced/api-keys/company/"])
def test_key_tables_fit_with_long_names_a_grace_period_and_many_keys(new_page, many_keys, viewport, path):
    page = new_page(viewport=viewport)
    sign_in(page, "adam")
    page.goto(path)
    expect(row(page, LONG_WORD)).to_contain_text("until")  # the grace-period note is there
    assert_no_sideways_scroll(page, viewport["width"])
    expect(row(page, "Expiring next week")).to_contain_text("Expiring in 5 days")

    for name in (LONG_WORD, LONG_WORDS):
        key_row = row(page, name).first
        link = key_row.get_by_role("link", name=name, exact=True)
        expect(link).to_have_attribute("title", name)  # the whole name, on hover
        menu = key_row.locator("summary")
        assert_on_screen(menu, viewport["width"])
        assert_on_screen(key_row.get_by_role("img", name="0 requests in the last 7 days"), viewport["width"])
        menu.click()
        assert_on_screen(key_row.get_by_role("link", name="Revoke key"), viewport["width"])
        assert_no_sideways_scroll(page, viewport["width"])
        menu.click()
    search = page.get_by_role("searchbox", name="Search")
    assert_on_screen(search, viewport["width"])
    search.fill(LONG_WORD[:30])
    page.get_by_role("button", name="Filter").click()
    expect(row(page, LONG_WORD)).to_have_count(1)
    assert_no_sideways_scroll(page, viewport["width"])
    page.go_back()
    if viewport is LAPTOP:
        # One line per key: the name shortens instead of wrapping, the actions are one button.
        assert row(page, LONG_WORDS).first.bounding_box()["height"] < 50
        assert row(page, "Service key 07").bounding_box()["height"] < 50


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["1280x800", "390x844"])
def test_key_page_fits_with_a_long_name_and_a_grace_period(new_page, many_keys, viewport):
    page = new_page(viewport=viewport)
    sign_in(page, "adam")
    page.goto(f"/settings/advanced/api-keys/{many_keys.pk}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(LONG_WORD)
    expect(page.locator("#previous-value")).to_contain_text("still works until")
    assert_no_sideways_scroll(page, viewport["width"])
