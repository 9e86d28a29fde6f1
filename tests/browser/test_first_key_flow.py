"""A first key end to end: log in, generate a key, use it, lose sight of it, revoke it."""
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from keys.models import ApiKey
from keys.services import api_key_revoke
from tests.browser.helpers import KEY_RE, LIST_URL_RE, call_me, row, row_action, screenshot, sign_in
from tests.factories import make_key
from tests.html import JUST_NOW

pytestmark = pytest.mark.browser


@pytest.fixture
def alices_other_keys(alice):
    """Keys in every state, so the list (and its screenshot) shows them all."""
    make_key(alice, name="Development Testing", mode="test")
    make_key(alice, name="Data Pipeline", expires_at=timezone.now() + timedelta(days=5))
    api_key_revoke(api_key=make_key(alice, name="Old laptop")[0])


def test_generate_use_reload_revoke(page, live_server, alice, alices_other_keys):
    sign_in(page, "alice")
    expect(page.get_by_role("heading", name="API-keys", level=1)).to_be_visible()

    page.get_by_role("link", name="Generate New API-key").click()
    create = page.get_by_role("dialog", name="Generate New API-key")
    expect(create).to_be_visible()
    expect(create.get_by_label("Name")).to_be_focused()
    create.get_by_label("Name").fill("Production Server")
    expect(create.get_by_label("Expiration date")).to_have_value(
        (timezone.now().date() + timedelta(days=90)).isoformat()
    )
    create.get_by_label("Live").check()
    screenshot(page, "create-dialog")
    create.get_by_role("button", name="Create").click()

    shown = page.get_by_role("dialog", name="Your new API key “Production Server”")
    expect(shown).to_be_visible()
    expect(shown).to_contain_text("it will not be shown again")
    expect(shown.get_by_text("select all (Ctrl+A or ⌘A)")).to_be_hidden()  # the no-JavaScript hint
    raw = shown.get_by_label("API key").input_value()
    assert KEY_RE.fullmatch(raw)
    shown.get_by_role("button", name="Copy key").click()
    expect(shown.get_by_role("status")).to_contain_text("Copied to the clipboard")
    assert page.evaluate("navigator.clipboard.readText()") == raw
    screenshot(page, "key-shown-once")

    status, body = call_me(live_server, raw)
    assert (status, body["user"]["username"], body["api_key"]["name"]) == (200, "alice", "Production Server")

    shown.get_by_role("button", name="I have copied it, close").click()
    expect(shown).to_be_hidden()
    expect(page).to_have_url(LIST_URL_RE)  # the POST's history entry became the list URL
    page.reload()
    assert raw not in page.content()
    assert not KEY_RE.search(page.content())
    production = row(page, "Production Server")
    expect(production).to_contain_text("Active")
    expect(production).to_contain_text(f"{raw[:12]}…")
    expect(production.locator("td[data-label='Last used']")).to_have_text(JUST_NOW)  # the /me call above
    screenshot(page, "list")

    row_action(page, "Production Server", "Revoke key").click()
    confirm = page.get_by_role("dialog", name="Revoke “Production Server” (sk_live_")
    expect(confirm).to_be_visible()
    expect(confirm).to_contain_text("401 Unauthorized from their next request")
    screenshot(page, "revoke-confirm")
    confirm.get_by_role("button", name="Revoke key").click()

    expect(page.get_by_role("status")).to_contain_text("Revoked “Production Server”")
    page.get_by_text("Show revoked (2)").click()
    expect(row(page, "Production Server")).to_contain_text("Revoked")
    assert ApiKey.objects.get(name="Production Server").revoked_at is not None
    status, body = call_me(live_server, raw)
    assert status == 401 and body["code"] == "revoked_api_key"
