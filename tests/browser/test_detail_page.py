"""A key's page in Chromium at a laptop's and a phone's size, filled as real use fills it: a
name of the full 100 characters, a regenerate in its grace period, limits and traffic. It
starts with the overview, keeps editing in closed panels (so it stays short) and never scrolls
sideways; the expiry is changed on the browser's own clock and shown in UTC too."""
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone as django_timezone
from playwright.sync_api import expect

from accounts.access import OPERATOR
from keys.limit_services import limits_set
from keys.models import ApiKey
from keys.services import api_key_regenerate
from tests.browser.helpers import call_me, sign_in
from tests.factories import make_key

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
LONG_NAME = ("Nightly-export-to-the-data-warehouse-" * 3)[:100]
# Measured with this fixture: 1,569 px on a laptop and 2,577 px on a phone (the issue found the
# page 3,182 and 6,034 px tall, every form open); the ceilings leave about 5% for fonts.
CEILINGS = {"laptop": 1650, "phone": 2700}


@pytest.fixture
def busy_key(live_server, alice):
    key, raw = make_key(alice, name=LONG_NAME, expires_at=django_timezone.now() + timedelta(days=60))
    limits_set(api_key=key, grantor=OPERATOR, request_limit=50, budget_limit_microcents=1_250_000_000,
               reset_period="monthly")
    for _ in range(3):
        assert call_me(live_server, raw, "/api/v1/demo/echo")[0] == 200
    key, _ = api_key_regenerate(api_key=key, grantor=OPERATOR, grace_period_seconds=24 * 3600)
    return key


def page_height(page) -> int:
    return page.evaluate("document.documentElement.scrollHeight")


@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_the_page_starts_with_the_overview_and_stays_short(new_page, alice, busy_key, size):
    viewport = LAPTOP if size == "laptop" else PHONE
    page = new_page(viewport=viewport, **({"is_mobile": True, "has_touch": True} if size == "phone" else {}))
    sign_in(page, "alice")
    page.goto(f"/settings/advanced/api-keys/{busy_key.pk}/")
    overview = page.get_by_role("region", name="Overview")
    expect(overview).to_contain_text("Requests this period 3 of 50 (6%)")
    expect(overview).to_contain_text("Spend this period $0.000003 of $12.50 (0%)")
    expect(overview.locator("#previous-value")).to_contain_text("still works until")
    for name in ("name", "expiry", "restrictions"):
        expect(page.locator(f"details#{name}")).not_to_have_attribute("open", "")
    height = page_height(page)
    print(f"{size}: {height} px tall")
    assert height <= CEILINGS[size]
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    # Every panel open, as a person editing everything would have it: still no sideways scroll.
    for name in ("name", "expiry", "restrictions", "history"):
        page.locator(f"details#{name} > summary").click()
    expect(page.get_by_role("textbox", name="Name", exact=True)).to_have_value(LONG_NAME)
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    title = page.get_by_role("heading", level=1).bounding_box()
    assert title["x"] + title["width"] <= viewport["width"]


def test_the_expiry_changes_on_the_browsers_clock(new_page, alice, busy_key):
    page = new_page(viewport=LAPTOP, timezone_id="America/New_York")
    sign_in(page, "alice")
    ApiKey.objects.filter(pk=busy_key.pk).update(
        expires_at=datetime(django_timezone.now().year + 1, 1, 15, 5, 0, tzinfo=UTC))
    year = django_timezone.now().year + 1
    page.goto(f"/settings/advanced/api-keys/{busy_key.pk}/")
    expect(page.get_by_role("region", name="Overview")).to_contain_text(
        f"{year}-01-15 05:00 UTC ({year}-01-15 00:00 America/New_York)")

    page.get_by_role("link", name="Change").click()  # the overview's link opens the panel
    expiry = page.locator("details#expiry")
    expect(expiry).to_have_attribute("open", "")
    expect(expiry).to_contain_text("on your clock (America/New_York)")
    # The current expiry, 05:00 UTC, is midnight in New York in January.
    expect(expiry.get_by_label("Date")).to_have_value(f"{year}-01-15")
    expect(expiry.get_by_label("Time")).to_have_value("00:00")

    expiry.get_by_label("Date").fill(f"{year}-02-28")
    expiry.get_by_label("Time").fill("23:59")
    expect(expiry.locator("#expiry-utc")).to_have_text(
        f"{year}-02-28 23:59 America/New_York = {year}-03-01 04:59 UTC")
    expiry.get_by_role("button", name="Save expiry").click()

    expect(page).to_have_url(re.compile(r"#expiry$"))
    expect(expiry.get_by_role("status")).to_have_text(
        f"“{LONG_NAME}” now expires at {year}-02-28 23:59 America/New_York = {year}-03-01 04:59 UTC.")
    assert ApiKey.objects.get(pk=busy_key.pk).expires_at == datetime(year, 3, 1, 4, 59, tzinfo=UTC)
    assert page.evaluate("document.documentElement.scrollWidth") <= LAPTOP["width"]


def test_a_typo_in_the_date_keeps_the_panel_open_with_its_error(new_page, alice, busy_key):
    page = new_page(viewport=PHONE, timezone_id="Asia/Kolkata", is_mobile=True, has_touch=True)
    sign_in(page, "alice")
    before = ApiKey.objects.get(pk=busy_key.pk).expires_at
    page.goto(f"/settings/advanced/api-keys/{busy_key.pk}/")
    expiry = page.locator("details#expiry")
    expiry.locator("summary").click()
    expiry.get_by_label("Date").fill("02/28/2027")
    expect(expiry.locator("#expiry-utc")).to_have_text("Dates are YYYY-MM-DD, times HH:MM on a 24-hour clock.")
    expiry.get_by_role("button", name="Save expiry").click()
    expect(expiry).to_have_attribute("open", "")
    expect(expiry.get_by_role("alert")).to_contain_text("The expiry was not saved")
    expect(expiry).to_contain_text("Enter the date as YYYY-MM-DD, e.g. 2027-01-31.")
    expect(expiry.get_by_label("Date")).to_have_value("02/28/2027")
    assert ApiKey.objects.get(pk=busy_key.pk).expires_at == before
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
