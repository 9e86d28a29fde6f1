"""Taking care of keys in the dashboard: restrictions on a key's page, regenerate with a grace period,
the company's key policy, unused keys as candidates to revoke, and the legacy-keys notice.
Each is checked by what a person sees and what the database and the API say afterwards."""
import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Company, Membership
from audit.models import AuditEvent
from keys.models import ApiKey
from keys.restrictions import SCOPES
from keys.services import api_key_import_legacy, api_key_revoke
from tests.clients import key_client
from tests.dashboard.conftest import COMPANY_URL, LIST_URL, NEW_URL, key_url, signed_in
from tests.factories import make_key
from tests.html import inline_text, select, select_one, soup, text, texts

pytestmark = pytest.mark.django_db
KEY_RE = re.compile(r"sk_(?:live|test)_[0-9A-Za-z]{38}")
GENERAL_URL = "/settings/general/"
POLICY_URL = "/settings/general/key-policy/"
DISMISS_URL = "/settings/advanced/api-keys/legacy-notice/dismiss/"
# Who acts on alice's key, and what they get when it is not theirs to manage.
ROLES = [("alice", None), ("owner", None), ("admin", None), ("bob", 403), ("outsider_admin", 404)]


def html_of(response) -> str:
    return response.content.decode()


def api_status(raw: str, path: str = "/api/v1/me") -> tuple[int, str | None]:
    response = key_client(raw).get(path)
    return response.status_code, response.json().get("code")


def restrictions(key) -> tuple:
    return ApiKey.objects.filter(pk=key.pk).values_list("allowed_ips", "allowed_referrers", "scopes").get()


def csrf_client(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def post_forms(html: str) -> list:
    return select(html, 'form[method="post"]')


def facts(part) -> dict:
    """Each <dt>'s text and the text of the <dd> that follows it, as the lines of a list read."""
    return {text(term): inline_text(term.find_next_sibling("dd")) for term in select(part, "dt")}


def page_text(html: str) -> str:
    return text(soup(html))


class TestRestrictions:
    def test_the_key_page_shows_the_restrictions_and_a_form_with_every_scope_explained(self, alice, alice_key):
        key, _ = alice_key
        html = html_of(signed_in(alice).get(key_url(key)))
        page = select_one(html, "#restrictions")
        shown = facts(page)
        assert shown["IP addresses"] == "Any address" and shown["Scopes"] == "all: every API area"
        assert select(page, f'form[action="{key_url(key, "restrictions")}"]')
        assert select(page, 'textarea[name="allowed_ips"]') and select(page, 'textarea[name="allowed_referrers"]')
        boxes = {box["value"]: text(box.parent) for box in page.select('input[type="checkbox"][name="scopes"]')}
        for scope, description in SCOPES.items():
            assert description in boxes[scope]
        assert [box["value"] for box in page.select('input[type="checkbox"][name="scopes"][checked]')] == ["all"]

    @pytest.mark.parametrize(("role", "refused_status"), ROLES)
    def test_who_may_change_them(self, request, alice_key, role, refused_status):
        key, raw = alice_key
        before = restrictions(key)
        response = signed_in(request.getfixturevalue(role)).post(
            key_url(key, "restrictions"), {"allowed_ips": "", "allowed_referrers": "", "scopes": ["demo"]})
        if refused_status is None:
            assert response.status_code == 302 and response["Location"] == f"{key_url(key)}#restrictions"
            assert restrictions(key) == ([], [], ["demo"])
            assert api_status(raw, "/api/v1/demo/echo")[0] == 200
            assert api_status(raw, "/api/v1/api-keys") == (403, "scope_not_allowed")
        else:
            assert response.status_code == refused_status
            expected = ("Only the key's owner or a company admin" if refused_status == 403
                        else "No API key with this id in your company.")
            assert expected in page_text(html_of(response))
            assert restrictions(key) == before
            assert not AuditEvent.objects.filter(action="restrictions.changed").exists()

    def test_saving_says_what_changed_and_the_api_applies_it_at_once(self, alice, alice_key):
        key, raw = alice_key
        assert api_status(raw) == (200, None)  # now cached: the change must reach the cache too
        response = signed_in(alice).post(key_url(key, "restrictions"), {
            "allowed_ips": "203.0.113.0/24\r\n2001:db8::/32\r\n\r\n203.0.113.0/24",
            "allowed_referrers": "*.Example.com, app.example.org",
            "scopes": ["keys:read", "demo"],
        }, follow=True)
        html = html_of(response)
        assert response.redirect_chain == [(f"{key_url(key)}#restrictions", 302)]
        assert ("Restrictions of “Alice's laptop” changed: IP addresses: any → 203.0.113.0/24, 2001:db8::/32; "
                "referrers: any → *.example.com, app.example.org; scopes: all → demo, keys:read. "
                "They apply from the next request.") in page_text(html)
        assert restrictions(key) == (["203.0.113.0/24", "2001:db8::/32"], ["*.example.com", "app.example.org"],
                                     ["demo", "keys:read"])
        ips = select_one(html, "#restrictions dt + dd")
        assert inline_text(ips) == "203.0.113.0/24, 2001:db8::/32"
        assert texts(ips, "code") == ["203.0.113.0/24", "2001:db8::/32"]
        typed = select_one(html, 'textarea[name="allowed_ips"]').get_text()
        assert typed.removeprefix("\n") == "203.0.113.0/24\n2001:db8::/32"  # a browser drops the first newline
        assert api_status(raw) == (403, "ip_not_allowed")
        history = text(select_one(html, "#history"))
        assert "Restrictions changed" in history and "scopes: all → demo, keys:read" in history
        event = AuditEvent.objects.get(action="restrictions.changed")
        assert (event.actor_user, event.surface) == (alice, "dashboard")

    def test_ticking_all_beside_other_scopes_means_all(self, alice, alice_key):
        key, _ = alice_key
        signed_in(alice).post(key_url(key, "restrictions"), {"scopes": ["demo"]})
        signed_in(alice).post(key_url(key, "restrictions"), {"scopes": ["demo", "all"]})
        assert restrictions(key)[2] == ["all"]

    def test_sending_the_same_restrictions_again_changes_nothing(self, alice, alice_key):
        key, _ = alice_key
        client = signed_in(alice)
        data = {"allowed_ips": "10.0.0.0/8", "allowed_referrers": "", "scopes": ["all"]}
        client.post(key_url(key, "restrictions"), data)
        response = client.post(key_url(key, "restrictions"), data, follow=True)
        shown = page_text(html_of(response))
        assert "The restrictions of “Alice's laptop” were already these; nothing changed." in shown
        assert AuditEvent.objects.filter(action="restrictions.changed").count() == 1

    @pytest.mark.parametrize(
        ("data", "field", "message"),
        [
            ({"allowed_ips": "10.0.0.1\n10.0.0.7/24"}, "allowed_ips",
             "'10.0.0.7/24' is not an IP address or CIDR range (10.0.0.7/24 has host bits set)"),
            ({"allowed_ips": "300.1.2.3"}, "allowed_ips", "'300.1.2.3' is not an IP address or CIDR range"),
            ({"allowed_ips": "2001:db8::/129"}, "allowed_ips",
             "'2001:db8::/129' is not an IP address or CIDR range"),
            ({"allowed_referrers": "https://app.example.com/"}, "allowed_referrers",
             "'https://app.example.com/' is not a host name or a *.domain pattern"),
            ({"allowed_referrers": "ok.example.com\nexa mple*.com"}, "allowed_referrers",
             "'mple*.com' is not a host name or a *.domain pattern"),
            ({"allowed_ips": "\n".join(f"10.0.{n // 256}.{n % 256}" for n in range(101))}, "allowed_ips",
             "Give at most 100 entries."),
            ({"scopes": []}, "scopes", "Tick at least one scope; “all” allows every API area."),
            ({"scopes": ["admin"]}, "scopes", "Select a valid choice. admin is not one of the available choices."),
        ],
    )
    def test_a_wrong_entry_is_named_on_its_field_and_nothing_changes(self, alice, alice_key, data, field, message):
        key, raw = alice_key
        before = restrictions(key)
        response = signed_in(alice).post(key_url(key, "restrictions"), {"scopes": ["demo"], **data})
        assert response.status_code == 400
        html = html_of(response)
        panel = select_one(html, "details.panel#restrictions")
        assert panel.has_attr("open")  # opened, with its errors
        assert "The restrictions were not saved: correct them below; nothing changed." in text(panel)
        assert message in page_text(html)
        if field != "scopes":
            assert select_one(html, f'textarea[name="{field}"]').get("aria-invalid") == "true"
        assert restrictions(key) == before
        assert not AuditEvent.objects.filter(action="restrictions.changed").exists()
        assert api_status(raw, "/api/v1/api-keys")[0] == 200

    def test_every_wrong_entry_is_named_at_once_on_its_field(self, alice, alice_key):
        key, _ = alice_key
        before = restrictions(key)
        response = signed_in(alice).post(key_url(key, "restrictions"), {
            "allowed_ips": "1.2.3.4, bad, 10.0.0.0/99, worse", "allowed_referrers": "ok.example.com\na/b",
            "scopes": ["demo"]})
        assert response.status_code == 400
        form = response.context["restrictions_form"]
        assert [message.split()[0] for message in form.errors["allowed_ips"]] == ["'bad'", "'10.0.0.0/99'", "'worse'"]
        assert [message.split()[0] for message in form.errors["allowed_referrers"]] == ["'a/b'"]
        html = html_of(response)
        assert all(f"&#x27;{entry}&#x27; is not an IP address" in html for entry in ("bad", "10.0.0.0/99", "worse"))
        assert restrictions(key) == before

    def test_a_revoked_keys_restrictions_are_not_offered_or_changed(self, alice, alice_key):
        key, _ = alice_key
        api_key_revoke(api_key=key, actor_user=alice)
        client = signed_in(alice)
        assert "Save restrictions" not in html_of(client.get(key_url(key)))
        response = client.post(key_url(key, "restrictions"), {"scopes": ["demo"]})
        assert response.status_code == 409
        assert "is revoked, so its restrictions can no longer be changed" in page_text(html_of(response))
        assert restrictions(key)[2] == ["all"]

    def test_the_form_needs_its_csrf_token(self, alice, alice_key):
        key, _ = alice_key
        client = csrf_client(alice)
        forms = post_forms(html_of(client.get(key_url(key))))
        assert any(form.get("action") == key_url(key, "restrictions") for form in forms)
        assert all(form.select_one('input[name="csrfmiddlewaretoken"]') for form in forms)
        assert client.post(key_url(key, "restrictions"), {"scopes": ["demo"]}).status_code == 403
        assert restrictions(key)[2] == ["all"]

    def test_get_is_not_allowed(self, alice, alice_key):
        key, _ = alice_key
        assert signed_in(alice).get(key_url(key, "restrictions")).status_code == 405


GRACES = [("0", None), ("3600", timedelta(hours=1)), ("86400", timedelta(days=1)), ("604800", timedelta(days=7))]


class TestRegenerateWithGrace:
    def test_the_confirmation_offers_now_or_a_grace_period(self, alice, alice_key):
        key, _ = alice_key
        html = html_of(signed_in(alice).get(key_url(key, "regenerate")))
        assert "When should the current value stop working?" in texts(html, "legend")
        choices = select(html, 'input[name="grace_period_seconds"]')
        assert [(choice["value"], text(choice.parent)) for choice in choices] == [
            ("0", "Now"), ("3600", "In 1 hour"), ("86400", "In 24 hours"), ("604800", "In 7 days")]
        assert [choice["value"] for choice in choices if choice.has_attr("checked")] == ["0"]

    @pytest.mark.parametrize(("grace", "lasts"), GRACES)
    def test_the_old_value_works_for_the_chosen_time(self, alice, alice_key, grace, lasts):
        key, old = alice_key
        client = signed_in(alice)
        started = timezone.now()
        response = client.post(key_url(key, "regenerate"), {"grace_period_seconds": grace, "from": "detail"})
        assert response.status_code == 200 and response["Cache-Control"] == "no-store"
        html = html_of(response)
        new = text(select_one(html, "[data-select-all]"))
        assert set(KEY_RE.findall(html)) == {new}  # the only value anywhere in the answer is the new one
        key.refresh_from_db()
        if lasts is None:
            assert (key.previous_prefix, key.previous_expires_at) == ("", None)
            assert "The old value stopped working just now" in html
            assert (api_status(old)[0], api_status(new)[0]) == (401, 200)
            assert not select(html, "#previous-value")
        else:
            assert key.previous_prefix == old[:12]
            assert started + lasts <= key.previous_expires_at <= timezone.now() + lasts
            until = f"{key.previous_expires_at:%Y-%m-%d %H:%M} UTC"
            [notice] = [line for line in select(html, "p") if "keeps working until" in text(line)]
            assert f"The old value {old[:12]}… keeps working until {until}" in text(notice)
            assert f"{old[:12]}…" in texts(notice, "code")
            assert (api_status(old)[0], api_status(new)[0]) == (200, 200)
            # Both values on the key's page and its row, as prefixes only; the raw values never again.
            detail = html_of(client.get(key_url(key)))
            previous = select_one(detail, "#previous-value")
            assert (previous.name, text(previous.find_previous_sibling("dt"))) == ("dd", "Previous value")
            assert text(previous).startswith(f"{old[:12]}… still works until {until}")
            assert texts(previous, "code") == [f"{old[:12]}…"] and f"{new[:12]}…" in texts(detail, "code")
            row = html_of(client.get(LIST_URL))
            grace = select_one(row, ".grace-note")
            assert text(grace).startswith(f"and {old[:12]}… until") and texts(grace, "code") == [f"{old[:12]}…"]
            assert old not in detail + row and new not in detail + row
            history = text(select_one(detail, "#history"))
            assert f"old value works until {key.previous_expires_at:%Y-%m-%d %H:%M} UTC" in history

    def test_once_the_grace_is_over_the_previous_value_is_no_longer_shown(self, alice, alice_key):
        key, old = alice_key
        client = signed_in(alice)
        client.post(key_url(key, "regenerate"), {"grace_period_seconds": "3600"})
        ApiKey.objects.filter(pk=key.pk).update(previous_expires_at=timezone.now() - timedelta(seconds=1))
        html = html_of(client.get(key_url(key)))
        details = text(select_one(html, "#overview"))
        assert "Previous value" not in details and old[:12] not in details
        assert old[:12] not in html_of(client.get(LIST_URL))
        assert api_status(old)[0] == 401

    @pytest.mark.parametrize("grace", ["5", "-1", "604801", "soon"])
    def test_another_grace_is_refused_and_nothing_changes(self, alice, alice_key, grace):
        key, old = alice_key
        response = signed_in(alice).post(key_url(key, "regenerate"), {"grace_period_seconds": grace})
        assert response.status_code == 400
        html = html_of(response)
        assert "Choose now, in 1 hour, in 24 hours or in 7 days." in html and not KEY_RE.search(html)
        assert ApiKey.objects.get(pk=key.pk).key_hash == key.key_hash and api_status(old)[0] == 200

    @pytest.mark.parametrize(("role", "refused_status"), ROLES)
    def test_who_may_regenerate_with_a_grace(self, request, alice_key, role, refused_status):
        key, old = alice_key
        response = signed_in(request.getfixturevalue(role)).post(key_url(key, "regenerate"),
                                                                 {"grace_period_seconds": "3600"})
        stored = ApiKey.objects.get(pk=key.pk)
        if refused_status is None:
            assert response.status_code == 200 and stored.previous_prefix == old[:12]
        else:
            assert response.status_code == refused_status
            assert stored.key_hash == key.key_hash and stored.previous_prefix == ""

    @pytest.mark.parametrize(("user", "url"), [("alice", LIST_URL), ("admin", COMPANY_URL), ("alice", None)])
    def test_the_confirm_dialog_asks_for_the_grace_only_for_regenerate(self, request, alice_key, user, url):
        key, _ = alice_key
        html = html_of(signed_in(request.getfixturevalue(user)).get(url or key_url(key)))
        grace = select_one(html, "fieldset#confirm-grace")
        assert grace["class"] == ["grace"] and grace.has_attr("hidden") and grace.has_attr("disabled")
        assert select(html, 'input[name="grace_period_seconds"][value="3600"]')
        regenerate_links = select(html, 'a[href*="/regenerate/"]')
        revoke_links = select(html, 'a[href*="/revoke/"]')
        assert regenerate_links and all(link.has_attr("data-confirm-grace") for link in regenerate_links)
        assert revoke_links and not any(link.has_attr("data-confirm-grace") for link in revoke_links)


def set_policy(company, **policy):
    Company.objects.filter(pk=company.pk).update(**policy)


class TestKeyPolicySettings:
    def test_owners_get_the_form_with_the_current_policy(self, owner, company):
        set_policy(company, max_key_lifetime_days=90, require_key_expiry=True, unused_key_days=60)
        html = html_of(signed_in(owner).get(GENERAL_URL))
        policy = select_one(html, "#key-policy")
        assert select_one(policy, f'form[action="{POLICY_URL}"]').select_one('input[name="csrfmiddlewaretoken"]')
        assert select_one(policy, '[name="max_key_lifetime_days"]')["value"] == "90"
        assert select_one(policy, '[name="require_key_expiry"]').has_attr("checked")
        assert select_one(policy, '[name="unused_key_days"]')["value"] == "60"

    @pytest.mark.parametrize("role", ["admin", "alice"])
    def test_admins_and_members_see_it_read_only(self, request, company, role):
        set_policy(company, max_key_lifetime_days=30, unused_key_days=45)
        html = html_of(signed_in(request.getfixturevalue(role)).get(GENERAL_URL))
        assert facts(html)["Maximum key lifetime"] == "30 days"
        assert "Yes: keys that never expire are refused" in html
        assert "Listed as candidates to revoke after 45 days without a request" in html
        assert "Only company owners change the key policy." in html
        assert POLICY_URL not in html and "Save key policy" not in html

    def test_an_owner_changes_it_and_the_message_says_what_changed(self, owner, company):
        response = signed_in(owner).post(POLICY_URL, {"max_key_lifetime_days": "90", "require_key_expiry": "on",
                                                      "unused_key_days": "30"}, follow=True)
        assert response.redirect_chain == [(f"{GENERAL_URL}#key-policy", 302)]
        assert (
            "Key policy of Acme changed: maximum key lifetime: no maximum → 90 days; expiry required: no → yes; "
            "unused after: 90 days → 30 days. It applies to keys created or extended from now on."
        ) in html_of(response)
        company.refresh_from_db()
        assert (company.max_key_lifetime_days, company.require_key_expiry, company.unused_key_days) == (90, True, 30)
        event = AuditEvent.objects.get(action="company.policy_changed")
        assert (event.actor_user, event.surface) == (owner, "dashboard")

    def test_clearing_the_maximum_and_saving_again(self, owner, company):
        set_policy(company, max_key_lifetime_days=90)
        client = signed_in(owner)
        client.post(POLICY_URL, {"max_key_lifetime_days": "", "unused_key_days": "90"})
        company.refresh_from_db()
        assert (company.max_key_lifetime_days, company.require_key_expiry) == (None, False)
        again = client.post(POLICY_URL, {"max_key_lifetime_days": "", "unused_key_days": "90"}, follow=True)
        assert "The key policy of Acme was already this; nothing changed." in html_of(again)
        assert AuditEvent.objects.filter(action="company.policy_changed").count() == 1

    @pytest.mark.parametrize("role", ["admin", "alice"])
    def test_a_non_owners_post_is_403_and_changes_nothing(self, request, company, role):
        response = signed_in(request.getfixturevalue(role)).post(
            POLICY_URL, {"max_key_lifetime_days": "1", "require_key_expiry": "on", "unused_key_days": "1"})
        assert response.status_code == 403
        assert "Only company owners may change the key policy; nothing changed." in html_of(response)
        company.refresh_from_db()
        assert (company.max_key_lifetime_days, company.require_key_expiry, company.unused_key_days) == (None, False, 90)
        assert not AuditEvent.objects.filter(action="company.policy_changed").exists()

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            ({"max_key_lifetime_days": "0", "unused_key_days": "90"}, "Enter at least 1 day."),
            ({"max_key_lifetime_days": "3651", "unused_key_days": "90"}, "Enter at most 3,650 days (10 years)."),
            ({"max_key_lifetime_days": "ninety", "unused_key_days": "90"}, "Enter a whole number of days, e.g. 90."),
            ({"max_key_lifetime_days": "30", "unused_key_days": ""}, "Enter a number of days, e.g. 90."),
            ({"unused_key_days": "-5"}, "Enter at least 1 day."),
            # What int() would read, but nobody typed as a number of days here.
            ({"max_key_lifetime_days": "٩٠", "unused_key_days": "90"}, "Enter a whole number of days, e.g. 90."),
            ({"max_key_lifetime_days": "9_0", "unused_key_days": "90"}, "Enter a whole number of days, e.g. 90."),
        ],
    )
    def test_wrong_values_are_explained_and_change_nothing(self, owner, company, data, message):
        response = signed_in(owner).post(POLICY_URL, data)
        assert response.status_code == 400
        html = html_of(response)
        assert message in html and "The key policy was not saved" in html
        company.refresh_from_db()
        assert (company.max_key_lifetime_days, company.unused_key_days) == (None, 90)

    def test_the_form_needs_its_csrf_token(self, owner, company):
        assert csrf_client(owner).post(POLICY_URL, {"unused_key_days": "1"}).status_code == 403
        assert Company.objects.get(pk=company.pk).unused_key_days == 90


def expiry_input(html: str):
    return select_one(html, 'input[type="text"][name="expires_on"]')


class TestCreatingUnderThePolicy:
    def test_without_a_policy_never_expires_is_offered_and_any_later_date(self, alice):
        html = html_of(signed_in(alice).get(NEW_URL))
        assert "Never expires" in html and not expiry_input(html).has_attr("max")

    @pytest.mark.parametrize("url", [NEW_URL, LIST_URL])
    def test_a_required_expiry_removes_never_expires(self, alice, company, url):
        set_policy(company, require_key_expiry=True)
        html = html_of(signed_in(alice).get(url))
        assert "Never expires" not in html and not select(html, '[name="never_expires"]')
        assert "Acme's key policy: every key expires on a date." in page_text(html)
        assert not expiry_input(html).has_attr("max")

    def test_the_maximum_lifetime_is_the_date_fields_default_and_stated(self, alice, company):
        set_policy(company, max_key_lifetime_days=30)
        latest = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
        html = html_of(signed_in(alice).get(NEW_URL))
        field = expiry_input(html)
        assert field["value"] == latest and field["placeholder"] == "YYYY-MM-DD"
        assert "Never expires" not in html and f"The latest date allowed is {latest}." in html
        assert "every key expires within 30 days" in html

    def test_the_latest_date_allowed_makes_a_key(self, alice, company):
        set_policy(company, max_key_lifetime_days=30)
        latest = (datetime.now(UTC) + timedelta(days=30)).date()
        response = signed_in(alice).post(NEW_URL, {"name": "CI", "expires_on": latest.isoformat(), "mode": "live"})
        assert response.status_code == 200 and KEY_RE.search(html_of(response))
        assert ApiKey.objects.get(owner=alice).expires_at.date() == latest

    def test_a_later_date_gets_the_services_refusal_on_the_field(self, alice, company):
        set_policy(company, max_key_lifetime_days=30)
        latest = (timezone.now() + timedelta(days=30)).date()
        later = (latest + timedelta(days=1)).isoformat()
        response = signed_in(alice).post(NEW_URL, {"name": "CI", "expires_on": later, "mode": "live"})
        assert response.status_code == 400
        html = html_of(response)
        assert f"Acme allows keys to live at most 30 days; pick an expiry on or before {latest:%Y-%m-%d}." in html
        assert expiry_input(html).get("aria-invalid") == "true"
        assert not ApiKey.objects.exists()

    @pytest.mark.parametrize("policy", [{"require_key_expiry": True}, {"max_key_lifetime_days": 30}])
    def test_never_expires_sent_anyway_is_refused(self, alice, company, policy):
        set_policy(company, **policy)
        response = signed_in(alice).post(NEW_URL, {"name": "CI", "never_expires": "on", "mode": "live"})
        assert response.status_code == 400
        assert "Pick an expiration date: Acme requires every key to expire" in html_of(response)
        assert not ApiKey.objects.exists()


def aged(owner, name, *, created_days_ago, used_days_ago=None):
    key, _ = make_key(owner, name=name)
    now = timezone.now()
    ApiKey.objects.filter(pk=key.pk).update(
        created_at=now - timedelta(days=created_days_ago),
        last_used_at=None if used_days_ago is None else now - timedelta(days=used_days_ago))
    return key


@pytest.fixture
def unused_keys(company, alice, bob):
    set_policy(company, unused_key_days=30)
    keys = {
        "never used": aged(alice, "Never used", created_days_ago=40),
        "idle": aged(alice, "Idle", created_days_ago=100, used_days_ago=31),
        "busy": aged(alice, "Busy", created_days_ago=100, used_days_ago=1),
        "new": aged(alice, "Brand new", created_days_ago=2),
        "revoked": aged(alice, "Old revoked", created_days_ago=100),
        "bob": aged(bob, "Bob idle", created_days_ago=60),
    }
    api_key_revoke(api_key=keys["revoked"], actor_user=alice)
    return keys


def candidates(html: str) -> list[str]:
    return texts(html, '#unused td[data-label="Name"] > a[href]')


class TestUnusedKeys:
    def test_a_member_sees_their_own_candidates_with_revoke(self, alice, unused_keys):
        html = html_of(signed_in(alice).get(LIST_URL))
        assert "Unused for 30 days: candidates to revoke" in html
        assert candidates(html) == ["Never used", "Idle"]
        assert select(html, f'#unused a[href="{key_url(unused_keys["idle"], "revoke")}?next={LIST_URL}"]')

    def test_the_company_view_lists_everyones_candidates_with_their_owner(self, admin, unused_keys):
        html = html_of(signed_in(admin).get(COMPANY_URL))
        assert candidates(html) == ["Never used", "Bob idle", "Idle"]  # newest first
        section = select_one(html, "#unused")
        assert "bob" in texts(section, 'td[data-label="Owner"]') and "These active keys of Acme" in text(section)

    def test_revoking_a_candidate_takes_it_off_the_list(self, admin, unused_keys):
        client = signed_in(admin)
        key = unused_keys["bob"]
        response = client.post(key_url(key, "revoke"), {"next": COMPANY_URL}, follow=True)
        assert response.redirect_chain == [(COMPANY_URL, 302)]
        assert candidates(html_of(response)) == ["Never used", "Idle"]
        assert ApiKey.objects.get(pk=key.pk).revoked_by == admin

    def test_the_company_setting_decides_how_long_is_unused(self, alice, company, unused_keys):
        set_policy(company, unused_key_days=35)
        html = html_of(signed_in(alice).get(LIST_URL))
        assert "Unused for 35 days: candidates to revoke" in html and candidates(html) == ["Never used"]

    def test_without_candidates_there_is_no_section(self, alice, alice_key):
        assert "candidates to revoke" not in html_of(signed_in(alice).get(LIST_URL))


@pytest.fixture
def legacy_key(alice, company):
    return api_key_import_legacy(company=company, owner=alice, name="Old integration",
                                 sha256_of_key=hashlib.sha256(b"oldsys-123").hexdigest(),
                                 created_at=timezone.now() - timedelta(days=400), expires_at=None)


def banner_titles(html: str) -> list[str]:
    return [title for title in texts(html, "h2") if title.endswith(("legacy API key", "legacy API keys"))]


def notice_shown(user) -> bool:
    return Membership.objects.get(user=user).legacy_notice_shown_at is not None


class TestLegacyKeys:
    @pytest.mark.parametrize("page", ["list", "detail", "company"])
    def test_the_banner_says_how_to_rotate_and_the_row_says_legacy(self, request, alice, legacy_key, page):
        if page == "company":
            Membership.objects.filter(user=alice).update(role="admin")
        url = {"list": LIST_URL, "detail": key_url(legacy_key), "company": COMPANY_URL}[page]
        html = html_of(signed_in(alice).get(url))
        assert banner_titles(html) == ["You have 1 legacy API key"]
        assert any(line.strong and text(line).startswith("To rotate one: press Regenerate on its row")
                   and text(line.strong) == "To rotate one:" for line in select(html, "p"))
        assert select(html, f'form[action="{DISMISS_URL}"]')
        assert select(html, "span.badge.legacy")

    def test_dismissing_calls_the_service_and_the_banner_is_gone(self, alice, legacy_key):
        client = signed_in(alice)
        response = client.post(DISMISS_URL, {"next": key_url(legacy_key)}, follow=True)
        assert response.redirect_chain == [(key_url(legacy_key), 302)]
        html = html_of(response)
        assert "The notice about legacy keys will not be shown again." in html
        assert not banner_titles(html) and "Legacy" in texts(html, "span.badge.legacy")
        assert notice_shown(alice)
        assert client.get("/api/v1/api-keys/legacy-status").json()["notice_shown"] is True
        assert not banner_titles(html_of(client.get(LIST_URL)))

    def test_regenerating_the_legacy_key_ends_the_notice_and_the_badge(self, alice, legacy_key):
        client = signed_in(alice)
        client.post(key_url(legacy_key, "regenerate"), {"grace_period_seconds": "86400"})
        html = html_of(client.get(LIST_URL))
        assert "legacy API key" not in html and not select(html, ".badge.legacy")
        grace = select_one(html, ".grace-note")  # the imported value's grace period
        assert text(grace).startswith("and legacy… until") and texts(grace, "code") == ["legacy…"]
        stored = ApiKey.objects.get(pk=legacy_key.pk)
        assert (stored.is_legacy, stored.previous_prefix) == (False, "legacy")
        assert not notice_shown(alice)

    def test_people_without_legacy_keys_see_no_banner(self, bob, legacy_key):
        assert "legacy API key" not in html_of(signed_in(bob).get(LIST_URL))

    def test_dismissing_needs_a_post_with_its_csrf_token(self, alice, legacy_key):
        assert signed_in(alice).get(DISMISS_URL).status_code == 405
        client = csrf_client(alice)
        forms = [form for form in post_forms(html_of(client.get(LIST_URL))) if form.get("action") == DISMISS_URL]
        assert len(forms) == 1 and forms[0].select_one('input[name="csrfmiddlewaretoken"]')
        assert client.post(DISMISS_URL).status_code == 403
        assert not notice_shown(alice)

    def test_dismissing_only_affects_the_person_in_this_company(self, alice, bob, legacy_key, company):
        legacy_for_bob = api_key_import_legacy(company=company, owner=bob, name="Bob old",
                                               sha256_of_key="d" * 64, created_at=timezone.now(), expires_at=None)
        assert legacy_for_bob is not None
        signed_in(alice).post(DISMISS_URL)
        assert (notice_shown(alice), notice_shown(bob)) == (True, False)
        assert "You have 1 legacy API key" in html_of(signed_in(bob).get(LIST_URL))
