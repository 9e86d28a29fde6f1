"""A key's page in Chromium: the drawn chart, the period switch, limits set by an admin and
shown read-only to the key's owner, at desktop and phone width."""
import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import call_me, screenshot, sign_in
from tests.factories import make_key

pytestmark = pytest.mark.browser


@pytest.fixture
def used_key(live_server, alice):
    key, raw = make_key(alice, name="Data Pipeline")
    for path in ["/api/v1/me"] * 4 + ["/api/v1/demo/echo"] * 3:
        assert call_me(live_server, raw, path)[0] == 200
    return key, raw


def test_admin_reads_usage_and_sets_limits(page, live_server, admin, used_key):
    key, raw = used_key
    sign_in(page, "adam")
    page.goto(f"/settings/advanced/api-keys/{key.pk}/")
    usage = page.get_by_role("region", name="Usage, last 30 days")
    chart = usage.get_by_role("img", name="Requests per day, last 30 days")
    expect(chart).to_be_visible()
    assert chart.bounding_box()["height"] > 120
    expect(usage.get_by_role("img", name="Spend (US$) per day, last 30 days")).to_be_visible()
    expect(usage.locator("dl.totals dt")).to_have_text(["Requests", "Successful", "Failed", "Spend"])
    expect(usage.locator("dl.totals dd")).to_have_text(["7", "7", "0", "$0.000003"])

    usage.get_by_role("link", name="7 days").click()
    expect(page.get_by_role("heading", name="Usage, last 7 days")).to_be_visible()
    expect(page).to_have_url(re.compile(r"\?days=7#usage$"))

    limits = page.locator("details#limits")
    limits.get_by_text("Limits", exact=True).click()  # the panel opens on demand
    limits.get_by_label("Request limit").fill("8")
    limits.get_by_label("Reset period").select_option("daily")
    limits.get_by_role("button", name="Save limits").click()
    expect(limits.get_by_role("status")).to_contain_text("Limits set for “Data Pipeline”: request limit: 8;")
    expect(page).to_have_url(re.compile(r"\?days=7#limits$"))

    assert call_me(live_server, raw, "/api/v1/demo/echo")[0] == 200  # product traffic: /me is not metered
    page.reload()
    overview = page.get_by_role("region", name="Overview")
    expect(overview).to_contain_text("Requests this period 1 of 8 (12%)")
    expect(overview.locator("progress")).to_have_attribute("value", "12")
    page.locator("#history summary").click()
    expect(page.locator("#history").get_by_role("row").nth(1)).to_contain_text("Limits set")
    screenshot(page, "key-usage", full_page=True)

    expect(limits).to_have_attribute("open", "")  # the address ends in #limits: the page opened it
    limits.get_by_role("button", name="Remove limits").click()
    confirm = page.get_by_role("dialog", name="Remove the limits of “Data Pipeline”?")
    expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
    confirm.get_by_role("button", name="Remove limits").click()
    expect(limits.get_by_role("status")).to_contain_text("Removed the limits of “Data Pipeline”")
    expect(overview).to_contain_text("no request limit")


def test_the_keys_owner_at_phone_width(new_page, alice, used_key):
    key, _ = used_key
    page = new_page(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    sign_in(page, "alice")
    page.get_by_role("link", name="Data Pipeline", exact=True).click()
    expect(page.get_by_role("img", name="Requests per day, last 30 days")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    expect(page.get_by_role("region", name="Overview")).to_contain_text(
        "Only company admins and owners change a key's limits.")
    expect(page.locator("details#limits")).to_have_count(0)
    screenshot(page, "key-usage-phone", full_page=True)
    page.get_by_text("The chart's numbers, day by day").click()
    expect(page.locator("#usage-table tbody tr").last.get_by_role("cell")).to_have_text(["7", "7", "0", "$0.000003"])
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
