"""Create, rename, revoke and regenerate through the pages, checked by what the database and
the API say afterwards."""
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from keys.models import ApiKey
from tests.clients import key_client
from tests.dashboard.conftest import LIST_URL, NEW_URL, key_url, signed_in
from tests.factories import make_key
from tests.html import select_one, text

pytestmark = pytest.mark.django_db
KEY_RE = re.compile(r"sk_(?:live|test)_[0-9A-Za-z]{38}")


def in_ninety_days() -> str:
    return (timezone.now().date() + timedelta(days=90)).isoformat()


def me_status(raw: str) -> int:
    return key_client(raw).get("/api/v1/me").status_code


def form_token(response) -> str:
    """The create form's one-use token, as the browser would send it back."""
    return select_one(response, 'input[name="form_token"]')["value"]


class TestCreate:
    def test_the_key_is_shown_once_in_the_no_store_response_and_works(self, alice):
        client = signed_in(alice)
        response = client.post(NEW_URL, {"name": "Production Server", "expires_on": in_ninety_days(), "mode": "live"})
        assert response.status_code == 200
        assert response["Cache-Control"] == "no-store"
        html = response.content.decode()
        [raw] = set(KEY_RE.findall(html))
        shown = select_one(response, "textarea#new-key-value")
        assert text(shown) == raw and shown["class"] == ["key-value"] and shown.has_attr("readonly")
        assert (shown["spellcheck"], shown["autocomplete"]) == ("false", "off") and shown.has_attr("data-select-all")
        assert "it will not be shown again" in html
        assert me_status(raw) == 200
        key = ApiKey.objects.get(owner=alice)
        assert (key.name, key.mode, key.created_by) == ("Production Server", "live", alice)
        assert key.expires_at == datetime.fromisoformat(in_ninety_days()).replace(tzinfo=UTC)

    def test_sending_the_same_form_again_creates_no_second_key(self, alice):
        """Without JavaScript, a reload of the "shown once" page offers to send the form again."""
        client = signed_in(alice)
        token = form_token(client.get(LIST_URL))
        form = {"name": "Nightly export", "never_expires": "on", "mode": "live", "form_token": token}
        assert client.post(NEW_URL, form).status_code == 200
        again = client.post(NEW_URL, form)
        assert again.status_code == 409 and "Already created" in again.content.decode()
        assert ApiKey.objects.get(owner=alice).prefix in again.content.decode()  # it names the key it made
        assert not KEY_RE.search(again.content.decode())
        assert ApiKey.objects.filter(owner=alice).count() == 1
        # The page it answers with has a fresh form, which makes the next key.
        fresh = form_token(again)
        assert client.post(NEW_URL, {**form, "name": "Second", "form_token": fresh}).status_code == 200
        assert ApiKey.objects.filter(owner=alice).count() == 2

    def test_a_form_still_works_after_many_other_tabs_rendered_forms(self, alice):
        """One tab's form, then the list rendered 25 times elsewhere: the first form makes its key."""
        client = signed_in(alice)
        token = form_token(client.get(LIST_URL))
        for _ in range(25):
            assert client.get(LIST_URL).status_code == 200
        form = {"name": "First tab", "never_expires": "on", "mode": "live", "form_token": token}
        response = client.post(NEW_URL, form)
        assert response.status_code == 200 and KEY_RE.search(response.content.decode())
        assert ApiKey.objects.filter(owner=alice, name="First tab").count() == 1

    @pytest.mark.parametrize("token", ["made-up", "x:1a2b:c3d4"])
    def test_a_token_not_signed_here_makes_no_key(self, alice, token):
        client = signed_in(alice)
        form = {"name": "Forged", "never_expires": "on", "mode": "live", "form_token": token}
        response = client.post(NEW_URL, form)
        assert response.status_code == 400 and "not made for you" in response.content.decode()
        assert not ApiKey.objects.exists()
        # The form it answers with carries a token that works.
        fresh = form_token(response)
        assert client.post(NEW_URL, {**form, "form_token": fresh}).status_code == 200
        assert ApiKey.objects.filter(owner=alice, name="Forged").count() == 1

    def test_another_persons_form_token_makes_no_key(self, alice, bob):
        token = form_token(signed_in(bob).get(LIST_URL))
        form = {"name": "Borrowed", "never_expires": "on", "mode": "live", "form_token": token}
        assert signed_in(alice).post(NEW_URL, form).status_code == 400
        assert not ApiKey.objects.exists()

    def test_a_week_old_form_still_makes_its_key_once(self, alice):
        client = signed_in(alice)
        with time_machine.travel(timezone.now() - timedelta(days=7)):
            token = form_token(client.get(LIST_URL))
        form = {"name": "Left open", "never_expires": "on", "mode": "live", "form_token": token}
        assert client.post(NEW_URL, form).status_code == 200
        assert client.post(NEW_URL, form).status_code == 409
        assert ApiKey.objects.filter(owner=alice).count() == 1

    def test_a_form_refused_for_bad_input_can_be_corrected_and_sent(self, alice):
        client = signed_in(alice)
        token = form_token(client.get(NEW_URL))
        assert client.post(NEW_URL, {"name": "", "mode": "live", "form_token": token}).status_code == 400
        ok = client.post(NEW_URL, {"name": "Fixed", "never_expires": "on", "mode": "live", "form_token": token})
        assert ok.status_code == 200 and ApiKey.objects.filter(owner=alice, name="Fixed").exists()

    def test_the_key_is_in_no_cookie_session_or_later_page(self, alice):
        client = signed_in(alice)
        response = client.post(NEW_URL, {"name": "Data Pipeline", "never_expires": "on", "mode": "test"})
        [raw] = set(KEY_RE.findall(response.content.decode()))
        assert raw.startswith("sk_test_")
        assert all(raw not in morsel.value for morsel in response.cookies.values())
        assert raw not in str(dict(client.session))
        assert raw not in response.get("Location", "")
        later = client.get(LIST_URL)
        assert raw not in later.content.decode() and not KEY_RE.search(later.content.decode())
        assert "Data Pipeline" in later.content.decode()
        assert ApiKey.objects.get(owner=alice).expires_at is None

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            ({"name": "", "expires_on": "2099-01-01", "mode": "live"}, "Give the key a name, e.g. "),
            ({"name": "   ", "expires_on": "2099-01-01", "mode": "live"}, "Give the key a name, e.g. "),
            ({"name": "x" * 101, "expires_on": "2099-01-01", "mode": "live"}, "at most 100 characters"),
            (
                {"name": "CI", "expires_on": "2020-01-01", "mode": "live"},
                "That date has passed: pick a date after today",
            ),
            ({"name": "CI", "expires_on": "", "mode": "live"}, "Pick an expiration date, or tick “Never expires”"),
            ({"name": "CI", "expires_on": "31/12/2099", "mode": "live"}, "Enter the date as YYYY-MM-DD"),
            ({}, "Give the key a name, e.g. "),
            ({"name": "CI", "never_expires": "on", "mode": "prod"}, "Select a valid choice."),
        ],
    )
    def test_invalid_input_is_explained_and_creates_nothing(self, alice, data, message):
        response = signed_in(alice).post(NEW_URL, data)
        assert response.status_code == 400
        html = response.content.decode()
        assert message in html
        assert "The key was not created: correct the fields marked below" in html
        assert not ApiKey.objects.exists()

    def test_never_expires_wins_over_a_date(self, alice):
        signed_in(alice).post(
            NEW_URL, {"name": "Cron", "expires_on": "2020-01-01", "never_expires": "on", "mode": "live"}
        )
        assert ApiKey.objects.get(owner=alice).expires_at is None


class TestRename:
    def test_rename_changes_only_the_name_and_returns_to_the_page(self, alice, alice_key):
        key, raw = alice_key
        response = signed_in(alice).post(
            key_url(key, "rename"), {"name": "Laptop (old)", "next": key_url(key)}, follow=True
        )
        assert response.redirect_chain == [(key_url(key), 302)]
        assert "Renamed “Alice&#x27;s laptop” to “Laptop (old)”" in response.content.decode()
        assert ApiKey.objects.get(pk=key.pk).name == "Laptop (old)"
        assert me_status(raw) == 200

    @pytest.mark.parametrize("data", [{"name": " "}, {}])
    def test_rename_refuses_an_empty_name_and_an_outside_next(self, alice, alice_key, data):
        key, _ = alice_key
        client = signed_in(alice)
        response = client.post(key_url(key, "rename"), data)
        assert response.status_code == 400 and "Give the key a name" in response.content.decode()
        assert ApiKey.objects.get(pk=key.pk).name == "Alice's laptop"
        response = client.post(key_url(key, "rename"), {"name": "New", "next": "//evil.example/"})
        assert response["Location"] == LIST_URL


class TestRevoke:
    def test_confirmation_page_then_revoked_and_refused_by_the_api(self, alice, alice_key):
        key, raw = alice_key
        client = signed_in(alice)
        confirm = client.get(key_url(key, "revoke"))
        assert "Revoke “Alice&#x27;s laptop”?" in confirm.content.decode()
        assert "401 Unauthorized from their next request" in confirm.content.decode()
        assert ApiKey.objects.get(pk=key.pk).revoked_at is None  # GET changes nothing
        response = client.post(key_url(key, "revoke"), follow=True)
        assert response.redirect_chain == [(LIST_URL, 302)]
        assert "Revoked “Alice&#x27;s laptop”. Requests with it are now refused with 401." in response.content.decode()
        key.refresh_from_db()
        assert key.revoked_at is not None and key.revoked_by == alice
        assert me_status(raw) == 401

    def test_revoking_twice_says_nothing_changed(self, alice, alice_key):
        key, _ = alice_key
        client = signed_in(alice)
        client.post(key_url(key, "revoke"))
        first = ApiKey.objects.get(pk=key.pk).revoked_at
        response = client.post(key_url(key, "revoke"), follow=True)
        assert "was already revoked" in response.content.decode()
        assert ApiKey.objects.get(pk=key.pk).revoked_at == first


class TestRegenerate:
    @pytest.mark.parametrize(
        ("from_page", "heading"),
        [("list", "<h1>API-keys</h1>"), ("detail", '<h1 class="key-title">'), ("", "<h1>API-keys</h1>")],
    )
    def test_new_value_shown_once_old_value_refused(self, alice, alice_key, from_page, heading):
        key, old = alice_key
        client = signed_in(alice)
        assert "A new value is shown once" in client.get(key_url(key, "regenerate")).content.decode()
        response = client.post(key_url(key, "regenerate"), {"from": from_page})
        assert response.status_code == 200 and response["Cache-Control"] == "no-store"
        html = response.content.decode()
        [new] = set(KEY_RE.findall(html))
        assert heading in html and "New value for “Alice&#x27;s laptop”" in html
        assert (me_status(old), me_status(new)) == (401, 200)
        assert new not in client.get(LIST_URL).content.decode()

    def test_admin_regenerating_from_the_company_view_stays_there(self, admin, alice_key):
        key, _ = alice_key
        response = signed_in(admin).post(key_url(key, "regenerate"), {"from": "company"})
        assert "<h1>Company keys</h1>" in response.content.decode()
        assert KEY_RE.search(response.content.decode())

    @pytest.mark.parametrize(
        ("state", "message"), [("revoked", "This key was revoked on"), ("expired", "This key expired on")]
    )
    def test_a_dead_key_cannot_be_regenerated_and_the_page_says_why(self, alice, alice_key, state, message):
        key, _ = alice_key
        change = (
            {"revoked_at": timezone.now()} if state == "revoked" else {"expires_at": timezone.now() - timedelta(days=1)}
        )
        ApiKey.objects.filter(pk=key.pk).update(**change)
        response = signed_in(alice).post(key_url(key, "regenerate"))
        assert response.status_code == 409
        html = response.content.decode()
        assert message in html and "create a new key" in html
        assert not KEY_RE.search(html)
        assert ApiKey.objects.get(pk=key.pk).key_hash == key.key_hash


def test_creating_makes_a_key_for_the_signed_in_person_only(alice, bob):
    signed_in(alice).post(NEW_URL, {"name": "Mine", "never_expires": "on", "mode": "live"})
    assert list(ApiKey.objects.values_list("owner__username", flat=True)) == ["alice"]


def test_list_after_create_keeps_the_key_out_of_the_rows(alice):
    make_key(alice, name="Older")
    response = signed_in(alice).post(NEW_URL, {"name": "Newer", "never_expires": "on", "mode": "live"})
    html = response.content.decode()
    table = html[html.index("<table"):]
    assert not KEY_RE.search(table)
