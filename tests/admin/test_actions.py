"""What a company admin does in Django admin goes through the same services as the API."""
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from keys.models import ApiKey, KeyLimit
from tests.clients import key_client
from tests.factories import make_key
from tests.html import select_one

pytestmark = pytest.mark.django_db
LIMIT_INLINE = {"limit-TOTAL_FORMS": "1", "limit-INITIAL_FORMS": "0", "limit-MIN_NUM_FORMS": "0",
                "limit-MAX_NUM_FORMS": "1"}


@pytest.fixture
def admin_client(admin):
    client = Client()
    client.force_login(admin)
    return client


def post_limit(admin_client, key, request_limit: str):
    """The key's change form in admin, posted with its name, no expiry, all scopes and one daily
    limit inline: `request_limit` requests, no budget."""
    return admin_client.post(f"/admin/keys/apikey/{key.pk}/change/", {
        "name": key.name, "expires_at_0": "", "expires_at_1": "", "scopes": ["all"], **LIMIT_INLINE,
        "limit-0-request_limit": request_limit, "limit-0-budget_limit_microcents": "",
        "limit-0-reset_period": "daily", "limit-0-enabled": "on", "limit-0-api_key": str(key.pk)})


def test_bulk_revoke_asks_for_confirmation_then_the_api_refuses_the_keys(admin_client, alice, bob):
    (first, first_raw), (second, _) = make_key(alice), make_key(bob)
    selected = {"action": "revoke_selected", "_selected_action": [str(first.pk), str(second.pk)]}
    confirm = admin_client.post("/admin/keys/apikey/", selected)
    assert confirm.status_code == 200 and "Revoking cannot be undone" in confirm.content.decode()
    assert ApiKey.objects.revoked().count() == 0
    done = admin_client.post("/admin/keys/apikey/", {**selected, "confirmed": "yes"}, follow=True)
    assert "Revoked 2 key(s)" in done.content.decode()
    assert ApiKey.objects.revoked().count() == 2
    assert key_client(first_raw).get("/api/v1/me").json()["code"] == "revoked_api_key"


def test_extend_expiry_adds_days_and_leaves_keys_without_expiry(admin_client, alice):
    soon = timezone.now() + timedelta(days=2)
    expiring, _ = make_key(alice, expires_at=soon)
    forever, _ = make_key(alice)
    selected = {"action": "extend_expiry", "_selected_action": [str(expiring.pk), str(forever.pk)]}
    assert "Extend the expiry" in admin_client.post("/admin/keys/apikey/", selected).content.decode()
    done = admin_client.post("/admin/keys/apikey/", {**selected, "days": "30"}, follow=True)
    assert "Extended 1 key(s) by 30 days. 1 never expire" in done.content.decode()
    expiring.refresh_from_db()
    forever.refresh_from_db()
    assert expiring.expires_at == soon + timedelta(days=30) and forever.expires_at is None
    assert AuditEvent.objects.filter(action="key.expiry_changed", surface="admin").count() == 1


def test_limits_edit_inline_through_the_service(admin_client, alice_key):
    key, raw = alice_key
    response = post_limit(admin_client, key, "1")
    assert response.status_code == 302
    assert KeyLimit.objects.get(api_key=key).request_limit == 1
    assert AuditEvent.objects.get(action="limits.set").surface == "admin"
    client = key_client(raw)
    assert [client.get("/api/v1/demo/echo").status_code for _ in range(2)] == [200, 429]


@pytest.mark.parametrize("request_limit, error", [
    ("-5", "greater than or equal to 0"),
    ("١٠٠", "Enter a whole number."),
    ("1_000", "Enter a whole number."),
    # The service's rule (a limit needs a number; lifting limits is removing them), on the form.
    ("", "Set a request limit, a budget or both."),
])
def test_a_bad_limit_in_admin_is_a_form_error(admin_client, alice_key, request_limit, error):
    key, _ = alice_key
    response = post_limit(admin_client, key, request_limit)
    assert response.status_code == 200 and error in response.content.decode()
    assert not KeyLimit.objects.exists()


def test_invalid_name_in_admin_is_a_form_error_and_changes_nothing(admin_client, alice_key):
    key, _ = alice_key
    response = admin_client.post(f"/admin/keys/apikey/{key.pk}/change/", {
        "name": "   ", "expires_at_0": "2001-01-01", "expires_at_1": "00:00:00", "scopes": ["all"],
        **{**LIMIT_INLINE, "limit-TOTAL_FORMS": "0"}})
    assert response.status_code == 200
    key.refresh_from_db()
    assert key.name == "Alice's laptop" and key.expires_at is None


def test_usage_records_are_read_only(admin_client, alice_key):
    key_client(alice_key[1]).get("/api/v1/me")
    from usage.models import RequestLog

    record = RequestLog.objects.get()
    page = admin_client.get(f"/admin/usage/requestlog/{record.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert admin_client.post(f"/admin/usage/requestlog/{record.pk}/change/", {"path": "/x"}).status_code == 403
    assert admin_client.get("/admin/usage/requestlog/add/").status_code == 403
    assert admin_client.post(f"/admin/usage/requestlog/{record.pk}/delete/", {"post": "yes"}).status_code == 403
    assert RequestLog.objects.get().path == "/api/v1/me"
    assert admin_client.get("/admin/usage/requestlog/?outcome=success&tier=free").status_code == 200


def test_restrictions_edit_in_admin_through_the_service(admin_client, alice_key):
    key, raw = alice_key
    base = {"name": key.name, "expires_at_0": "", "expires_at_1": "", **{**LIMIT_INLINE, "limit-TOTAL_FORMS": "0"}}
    bad = admin_client.post(f"/admin/keys/apikey/{key.pk}/change/",
                            {**base, "allowed_ips": "10.0.0.0/8\n300.1.1.1", "scopes": ["keys:read"]})
    assert bad.status_code == 200 and "300.1.1.1" in bad.content.decode()
    assert ApiKey.objects.get(pk=key.pk).allowed_ips == []
    good = admin_client.post(f"/admin/keys/apikey/{key.pk}/change/",
                             {**base, "allowed_ips": "203.0.113.0/24", "allowed_referrers": "*.example.com",
                              "scopes": ["keys:read", "usage:read"]})
    assert good.status_code == 302
    key.refresh_from_db()
    assert (key.allowed_ips, key.allowed_referrers, key.scopes) == (["203.0.113.0/24"], ["*.example.com"],
                                                                    ["keys:read", "usage:read"])
    assert AuditEvent.objects.get(action="restrictions.changed").surface == "admin"
    assert key_client(raw).get("/api/v1/me").json()["code"] == "ip_not_allowed"


def test_renaming_in_admin_leaves_an_expiry_with_microseconds_alone(admin, owner):
    """Admin's date widget drops microseconds: a rename must not send the expiry back as a
    change, which wrote a false audit event, and for an owner's key answered 500."""
    expiry = timezone.now().replace(microsecond=123456) + timedelta(days=30)
    key, _ = make_key(owner, name="Owner's", expires_at=expiry)
    client = Client()
    client.force_login(admin)
    page = client.get(f"/admin/keys/apikey/{key.pk}/change/").content.decode()
    local = timezone.localtime(expiry)
    assert local.strftime("%Y-%m-%d") in page
    response = client.post(f"/admin/keys/apikey/{key.pk}/change/", {
        "name": "Renamed by an admin", "expires_at_0": local.strftime("%Y-%m-%d"),
        "expires_at_1": local.strftime("%H:%M:%S"), "allowed_ips": "", "allowed_referrers": "", "scopes": ["all"],
        **{**LIMIT_INLINE, "limit-TOTAL_FORMS": "0"}})
    assert response.status_code == 302
    key.refresh_from_db()
    assert (key.name, key.expires_at) == ("Renamed by an admin", expiry)
    assert not AuditEvent.objects.filter(action="key.expiry_changed").exists()


@pytest.mark.parametrize("status, names", [
    ("active", {"Later", "Soon"}),
    ("expiring", {"Soon"}),
    ("expired", {"Gone"}),
    ("revoked", {"Stopped"}),
])
def test_the_status_filter_and_the_status_column_speak_the_dashboards_words(admin_client, alice, status, names):
    now = timezone.now()
    make_key(alice, name="Soon", expires_at=now + timedelta(days=3))
    make_key(alice, name="Later", expires_at=now + timedelta(days=30))
    make_key(alice, name="Gone", expires_at=now + timedelta(days=3))
    ApiKey.objects.filter(name="Gone").update(expires_at=now - timedelta(days=1))
    stopped, _ = make_key(alice, name="Stopped")
    ApiKey.objects.filter(pk=stopped.pk).update(revoked_at=now)
    page = admin_client.get(f"/admin/keys/apikey/?status={status}")
    listed = {key.name for key in page.context["cl"].result_list}
    assert page.status_code == 200 and listed == names
    label = {"active": "Active", "expiring": "Expiring soon", "expired": "Expired", "revoked": "Revoked"}[status]
    assert f'<span class="key-status key-status-{status}">●</span> {label}' in page.content.decode()


def test_a_key_added_in_admin_expires_in_90_days_unless_changed(admin_client):
    page = admin_client.get("/admin/keys/apikey/add/")
    in_ninety_days = (timezone.now() + timedelta(days=90)).date().isoformat()
    assert select_one(page, 'input[name="expires_at_0"]')["value"] == in_ninety_days


def test_the_change_page_says_allowed_ips(admin_client, alice_key):
    key, _ = alice_key
    html = admin_client.get(f"/admin/keys/apikey/{key.pk}/change/").content.decode()
    assert '<label for="id_allowed_ips">Allowed IPs:</label>' in html


def test_a_key_policy_out_of_bounds_in_admin_is_a_form_error(owner, company):
    client = Client()
    client.force_login(owner)
    response = client.post(f"/admin/accounts/company/{company.pk}/change/", {
        "name": company.name, "max_key_lifetime_days": "99999", "unused_key_days": "90",
        "default_request_limit": "", "default_budget_limit_microcents": "", "default_limit_period": "monthly"})
    assert response.status_code == 200
    assert "max_key_lifetime_days must be between 1 and 3,650 days." in response.content.decode()
    company.refresh_from_db()
    assert company.max_key_lifetime_days is None


@pytest.mark.parametrize("typed", ["٩٠", "9_0", "1e2"])
def test_a_policy_number_in_admin_is_ascii_digits(owner, company, typed):
    client = Client()
    client.force_login(owner)
    response = client.post(f"/admin/accounts/company/{company.pk}/change/", {
        "name": company.name, "max_key_lifetime_days": typed, "unused_key_days": "90",
        "default_request_limit": "", "default_budget_limit_microcents": "", "default_limit_period": "monthly"})
    assert response.status_code == 200 and "Enter a whole number." in response.content.decode()
    company.refresh_from_db()
    assert company.max_key_lifetime_days is None
def test_the_expiry_date_and_time_inputs_each_have_a_name(admin_client, alice_key):
    key, _ = alice_key
    for url in ("/admin/keys/apikey/add/", f"/admin/keys/apikey/{key.pk}/change/"):
        response = admin_client.get(url)
        assert select_one(response, 'input[name="expires_at_0"]')["aria-label"].startswith("Expires at: date")
        assert select_one(response, 'input[name="expires_at_1"]')["aria-label"].startswith("Expires at: time")
