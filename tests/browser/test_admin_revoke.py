"""A company admin revokes a member's key in Django admin with the bulk action; the API refuses
the key on its next request."""
import re

import pytest
from playwright.sync_api import expect

from audit.models import AuditEvent
from keys.models import ApiKey
from tests.browser.helpers import call_me, screenshot
from tests.factories import PASSWORD, make_key

pytestmark = pytest.mark.browser


def test_admin_revokes_a_members_key_with_the_bulk_action(page, live_server, admin, alice, bob):
    key, raw = make_key(bob, name="Bob's pipeline")
    make_key(alice, name="Alice's laptop")
    assert call_me(live_server, raw)[0] == 200

    page.goto("/admin/login/?next=/admin/keys/apikey/")
    page.get_by_label("Username").fill("adam")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r".*/admin/keys/apikey/$"))

    page.get_by_role("checkbox", name=f"Select this object for an action - {key}").check()
    page.get_by_role("combobox", name="Action").select_option(label="Revoke selected keys")
    page.get_by_role("button", name="Go").click()

    expect(page.get_by_role("heading", name="Revoke these API keys?")).to_be_visible()
    expect(page.get_by_text("Revoking cannot be undone")).to_be_visible()
    expect(page.get_by_role("listitem").filter(has_text="Bob's pipeline")).to_contain_text("owned by bob")
    expect(page.get_by_text("Alice's laptop")).to_have_count(0)
    screenshot(page, "admin-revoke")
    assert not ApiKey.objects.revoked().exists()  # asking changed nothing

    page.get_by_role("button", name="Yes, revoke 1 key").click()
    expect(page.get_by_text("Revoked 1 key(s); they are refused from the next request on.")).to_be_visible()
    expect(page).to_have_url(re.compile(r".*/admin/keys/apikey/$"))

    revoked = ApiKey.objects.get(pk=key.pk)
    assert revoked.revoked_by == admin and revoked.revoked_at is not None
    assert not ApiKey.objects.get(name="Alice's laptop").is_revoked
    event = AuditEvent.objects.get(api_key=key, action="key.revoked")
    assert (event.actor_label, event.surface) == ("adam", "admin")

    status, body = call_me(live_server, raw)
    assert status == 401 and body["code"] == "revoked_api_key"


def test_long_names_shorten_to_one_line_in_the_changelist(new_page, admin, alice):
    long_name = ("Nightly export to the data warehouse of the European payments team, "
                 "rotated every quarter by ops")[:100]
    for owner in (admin, alice):
        make_key(owner, name=long_name)
    page = new_page(viewport={"width": 1280, "height": 800})
    page.goto("/admin/login/?next=/admin/keys/apikey/")
    page.get_by_label("Username").fill("adam")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("link", name=long_name).first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    # The name column stays at most ~22rem, with the rest of the name behind an ellipsis.
    assert page.locator("#result_list thead th.column-name").evaluate("th => th.offsetWidth") <= 380
    expect(page.get_by_role("link", name=long_name).first).to_have_css("text-overflow", "ellipsis")
