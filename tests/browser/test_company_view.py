"""Company keys as an admin (every key, filters, actions) and as a member (no way in)."""
import pytest
from playwright.sync_api import expect

from keys.models import ApiKey
from tests.browser.helpers import call_me, row, row_action, sign_in
from tests.factories import make_key

pytestmark = pytest.mark.browser


def test_admin_filters_the_company_keys_and_revokes_a_members_key(page, live_server, admin, alice, bob):
    make_key(alice, name="Alice's laptop")
    _, bobs_raw = make_key(bob, name="Bob's pipeline")
    sign_in(page, "adam")
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Company keys").click()
    expect(page.get_by_role("heading", name="Company keys")).to_be_visible()
    expect(row(page, "Alice's laptop")).to_contain_text("alice")
    expect(row(page, "Bob's pipeline")).to_contain_text("bob")

    page.get_by_label("Owner").select_option(label="bob")
    page.get_by_role("button", name="Filter").click()
    expect(row(page, "Bob's pipeline")).to_be_visible()
    expect(row(page, "Alice's laptop")).to_have_count(0)

    row_action(page, "Bob's pipeline", "Revoke key").click()
    page.get_by_role("dialog", name="Revoke “Bob's pipeline” (sk_").get_by_role("button", name="Revoke key").click()
    expect(page.get_by_role("status")).to_contain_text("Revoked “Bob's pipeline”")
    expect(page.get_by_role("heading", name="Company keys")).to_be_visible()  # back where the admin was
    assert ApiKey.objects.get(name="Bob's pipeline").revoked_by == admin
    assert call_me(live_server, bobs_raw)[0] == 401


def test_member_has_no_company_view(page, alice, bob):
    make_key(bob, name="Bob's pipeline")
    sign_in(page, "alice")
    nav = page.get_by_role("navigation", name="Settings")
    expect(nav.get_by_role("link", name="API-keys")).to_be_visible()
    expect(nav.get_by_role("link", name="Company keys")).to_have_count(0)
    response = page.goto("/settings/advanced/api-keys/company/")
    assert response.status == 403
    expect(page.get_by_text("Only company admins and owners see every key")).to_be_visible()
    expect(page.get_by_text("Bob's pipeline")).to_have_count(0)
