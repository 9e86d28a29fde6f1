"""What a browser asks for beside the page itself: nothing it asks for is missing, the
favicon included, and the pages arrive compressed."""
import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import sign_in
from tests.factories import make_key

pytestmark = pytest.mark.browser


def test_no_page_asks_for_anything_missing(new_page, admin):
    key, _ = make_key(admin, name="Deploy bot")
    page = new_page()
    failed = []
    page.on("response", lambda response: failed.append((response.status, response.url))
            if response.status >= 400 else None)
    sign_in(page, "adam")
    for path in ("/settings/advanced/api-keys/", f"/settings/advanced/api-keys/{key.pk}/",
                 "/settings/advanced/api-keys/company/", "/api/docs/"):
        response = page.goto(path)
        assert response.status == 200
        page.wait_for_load_state("networkidle")
    assert failed == []
    icon = page.request.get("/favicon.ico")
    assert icon.status == 200


def test_the_list_arrives_compressed_and_links_to_the_api_reference(page, admin):
    sign_in(page, "adam")
    response = page.goto("/settings/advanced/api-keys/")
    assert response.headers.get("content-encoding") == "gzip"
    page.get_by_role("link", name="API reference").click()
    expect(page).to_have_url(re.compile(r"/api/docs/$"))


def test_the_expiry_field_shows_its_date_as_every_other_date_is_shown(page, alice):
    sign_in(page, "alice")
    page.get_by_role("link", name="Generate New API-key").first.click()
    field = page.get_by_role("dialog", name="Generate New API-key").get_by_label("Expiration date")
    # What the person sees is the field's text: ISO, as in the table, not the locale's 02/28/2027.
    expect(field).to_have_value(re.compile(r"^\d{4}-\d{2}-\d{2}$"))
    assert field.evaluate("f => f.type") == "text"
    field.fill("2027-02-28")
    expect(field).to_have_value("2027-02-28")
