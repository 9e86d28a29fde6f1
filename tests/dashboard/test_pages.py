"""What people see on the key pages: their keys, in the right state, and nobody else's."""
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.access import OPERATOR
from accounts.models import Role
from keys.limit_services import limits_set
from keys.models import ApiKey
from keys.services import api_key_revoke, api_keys_touch
from tests.dashboard.conftest import COMPANY_URL, LIST_URL, NEW_URL, key_url, signed_in
from tests.factories import CompanyFactory, make_key
from tests.html import select, select_one, text

pytestmark = pytest.mark.django_db


def rows(response) -> list:
    return select(response, 'tr[id^="key-"]')


def status(row) -> str:
    return text(select_one(row, 'td[data-label="Status"]'))


@pytest.mark.parametrize("url", ["/", "/settings/general/", LIST_URL, NEW_URL, COMPANY_URL])
def test_pages_ask_anonymous_visitors_to_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_front_page_leads_to_the_key_page_after_login(client, alice):
    response = client.post(
        "/accounts/login/", {"username": "alice", "password": "correct horse battery staple"}, follow=True
    )
    assert response.redirect_chain == [("/", 302), (LIST_URL, 302)]
    assert "<h1>API-keys</h1>" in response.content.decode()


def test_login_page_says_what_to_do_when_the_password_is_wrong(client, alice):
    response = client.post("/accounts/login/", {"username": "alice", "password": "nope"})
    assert "That username and password do not match" in response.content.decode()


def test_list_shows_only_my_keys_newest_first(alice, bob):
    now = timezone.now()
    first, _ = make_key(alice, name="First")
    ApiKey.objects.filter(pk=first.pk).update(created_at=now - timedelta(days=1))
    make_key(alice, name="Second")
    make_key(bob, name="Bob's pipeline")
    html = rows(signed_in(alice).get(LIST_URL))
    assert len(html) == 2
    assert "Second" in text(html[0]) and "First" in text(html[1])


def test_a_row_shows_status_name_prefix_mode_and_dates(alice):
    key, _ = make_key(alice, name="Production Server", mode="test")
    api_keys_touch(uses={key.pk: timezone.now() - timedelta(minutes=3)})
    key.refresh_from_db()
    [row] = rows(signed_in(alice).get(LIST_URL))
    assert status(row) == "Active"
    assert f"{key.prefix}…" in [text(code) for code in row.select("code")] and key.prefix.startswith("sk_test_")
    assert text(select_one(row, ".badge.mode-test")) == "Test"
    assert "3\xa0minutes ago" in row.get_text()
    assert select(row, f'[datetime="{key.last_used_at.isoformat()}"]')
    assert "Never" in text(row)  # no expiry


def test_never_used_key_says_never(alice, alice_key):
    [row] = rows(signed_in(alice).get(LIST_URL))
    assert text(select_one(row, 'td[data-label="Last used"]')) == "Never"


@pytest.mark.parametrize(
    ("expires_in", "used", "label"),
    [(timedelta(days=30), True, "Active"), (timedelta(days=30), False, "Unused"),
     (timedelta(days=6), True, "Expiring in 6 days"), (timedelta(hours=2), True, "Expiring in 1 day")],
)
def test_status_labels_for_live_keys(alice, expires_in, used, label):
    key, _ = make_key(alice, expires_at=timezone.now() + expires_in)
    if used:
        api_keys_touch(uses={key.pk: timezone.now()})
    [row] = rows(signed_in(alice).get(LIST_URL))
    assert status(row) == label


def test_a_key_whose_limit_is_used_up_says_so_until_the_period_ends(alice):
    key, raw = make_key(alice, name="Busy")
    limits_set(api_key=key, grantor=OPERATOR, request_limit=2, reset_period="daily")
    caller = Client()
    statuses = [caller.get("/api/v1/demo/echo", HTTP_API_KEY=raw).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    tomorrow = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%d")
    client = signed_in(alice)
    [row] = rows(client.get(LIST_URL))
    assert row["class"] == ["status-limited", "mode-row-live"]
    assert f"Limit reached until {tomorrow} 00:00 UTC" in str(row)
    assert f"Limit reached until {tomorrow} 00:00 UTC" in client.get(key_url(key)).content.decode()


def test_a_key_under_its_limit_is_active(alice):
    key, raw = make_key(alice, name="Calm")
    limits_set(api_key=key, grantor=OPERATOR, request_limit=2, reset_period="daily")
    assert Client().get("/api/v1/demo/echo", HTTP_API_KEY=raw).status_code == 200
    [row] = rows(signed_in(alice).get(LIST_URL))
    assert status(row) == "Active" and "Limit reached" not in str(row)


def test_expired_key_is_labelled_expired_and_cannot_be_regenerated(alice, alice_key):
    key, _ = alice_key
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(days=1))
    [row] = rows(signed_in(alice).get(LIST_URL))
    assert status(row) == "Expired"
    assert "Regenerate" not in text(row) and "Revoke key" in text(row)


def test_revoked_keys_are_folded_under_show_revoked(alice, alice_key):
    key, _ = alice_key
    make_key(alice, name="Still good")
    api_key_revoke(api_key=key)
    html = signed_in(alice).get(LIST_URL).content.decode()
    visible, folded = html.split("<summary>Show revoked (1)</summary>")
    assert "Still good" in visible and "Alice&#x27;s laptop" not in visible
    assert "Alice&#x27;s laptop" in folded and "</span>Revoked</span>" in folded
    assert "Revoke key" not in folded


def test_empty_state_explains_keys_and_offers_the_button(alice):
    html = signed_in(alice).get(LIST_URL).content.decode()
    assert "No API keys yet" in html
    assert "call the Keyhouse API on your behalf" in html
    assert html.count("Generate New API-key</a>") == 2  # page header and empty state
    assert "<table" not in html


def test_create_form_offers_name_examples_a_90_day_default_and_modes(alice):
    html = signed_in(alice).get(NEW_URL).content.decode()
    default = (timezone.now().date() + timedelta(days=90)).isoformat()
    assert 'placeholder="e.g. Production Server"' in html
    for example in ("Production Server", "Development Testing", "Data Pipeline"):
        assert example in html
    assert f'name="expires_on" value="{default}"' in html
    assert "00:00 UTC" in html and "Never expires" in html
    assert 'value="live"' in html and 'value="test"' in html and "never charged" in html
    for field in ("id_name", "id_expires_on", "id_never_expires"):
        assert f'for="{field}"' in html  # every field has a label


def test_key_names_render_as_text_everywhere(alice):
    key, _ = make_key(alice, name='<script>alert("x")</script>')
    client = signed_in(alice)
    for url in (LIST_URL, key_url(key), key_url(key, "revoke"), key_url(key, "regenerate"), key_url(key, "rename")):
        html = client.get(url).content.decode()
        assert "<script>alert" not in html, url
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html, url


def test_detail_page_shows_name_prefix_mode_dates_and_creator(admin, alice):
    key, _ = make_key(alice, name="Data Pipeline", actor_user=admin, expires_at=timezone.now() + timedelta(days=40))
    html = signed_in(alice).get(key_url(key)).content.decode()
    assert '<h1 class="key-title">Data Pipeline</h1>' in html
    assert f"<code>{key.prefix}…</code>" in html
    assert "Live" in html
    assert f"by {admin.username}" in html
    assert key.expires_at.strftime("%Y-%m-%d") in html


def test_detail_page_of_a_revoked_key_says_when_and_by_whom_and_offers_no_actions(admin, alice, alice_key):
    key, _ = alice_key
    api_key_revoke(api_key=key, actor_user=admin)
    html = signed_in(alice).get(key_url(key)).content.decode()
    assert f"{key.revoked_at:%Y-%m-%d}</time> by adam" in html
    assert "Revoke key" not in html and "Regenerate" not in html and "Save name" not in html


def test_company_keys_link_is_only_in_admins_navigation(owner, admin, alice):
    link = 'href="/settings/advanced/api-keys/company/"'
    assert link in signed_in(owner).get(LIST_URL).content.decode()
    assert link in signed_in(admin).get(LIST_URL).content.decode()
    assert link not in signed_in(alice).get(LIST_URL).content.decode()


def test_general_page_names_company_and_role(alice):
    html = signed_in(alice).get("/settings/general/").content.decode()
    assert "Acme" in html and "Member" in html and 'aria-current="page">General' in html


def test_user_without_company_is_told_whom_to_ask(client):
    from tests.factories import UserFactory

    lonely = UserFactory(username="lonely")
    response = signed_in(lonely).get(LIST_URL)
    assert response.status_code == 403
    assert "ask a company owner to add you" in response.content.decode()


def test_pages_use_no_outside_assets_and_ship_our_own_css_and_js(client, alice, alice_key):
    html = signed_in(alice).get(LIST_URL).content.decode()
    assert "https://" not in html and "http://" not in html and "//cdn" not in html
    assert "/static/css/app.css" in html and "/static/js/dashboard.js" in html
    for asset in ("/static/css/app.css", "/static/js/dashboard.js"):
        assert client.get(asset).status_code == 200


def test_clickjacking_and_session_cookie_protections(client, alice):
    response = client.post("/accounts/login/", {"username": "alice", "password": "correct horse battery staple"})
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] is True and cookie["samesite"] == "Lax"
    page = client.get(LIST_URL)
    assert page["X-Frame-Options"] == "DENY"
    assert page["X-Content-Type-Options"] == "nosniff"


class TestCompanySwitcher:
    @pytest.fixture
    def globex(self, alice):
        company = CompanyFactory(name="Globex")
        from accounts.models import Membership

        Membership.objects.create(user=alice, company=company, role=Role.ADMIN)
        return company

    def test_single_company_people_see_no_switcher(self, alice):
        assert 'name="company"' not in signed_in(alice).get(LIST_URL).content.decode()

    def test_switching_shows_the_other_companys_keys_and_role(self, alice, alice_key, globex):
        client = signed_in(alice)
        html = client.get(LIST_URL).content.decode()
        assert 'id="company-switcher"' in html and "Alice&#x27;s laptop" in html  # Acme first by name
        response = client.post("/settings/company/", {"company": globex.pk, "next": LIST_URL}, follow=True)
        html = response.content.decode()
        assert "You are now working in Globex" in html
        assert "Alice&#x27;s laptop" not in html and "No API keys yet" in html
        assert 'href="/settings/advanced/api-keys/company/"' in html  # admin in Globex

    @pytest.mark.parametrize("chosen", ["", "abc", "999999"])
    def test_switching_to_a_company_you_are_not_in_is_404(self, alice, globex, chosen):
        response = signed_in(alice).post("/settings/company/", {"company": chosen})
        assert response.status_code == 404
        assert "That is not one of your companies; pick one from the list." in response.content.decode()
        assert alice.memberships.count() == 2

    def test_switcher_ignores_an_unsafe_next(self, alice, globex):
        response = signed_in(alice).post("/settings/company/", {"company": globex.pk, "next": "https://evil.example/"})
        assert response["Location"] == LIST_URL

    def test_a_company_you_left_falls_back_to_your_remaining_one(self, alice, globex):
        client = signed_in(alice)
        client.post("/settings/company/", {"company": globex.pk})
        globex.memberships.all().delete()
        html = client.get("/settings/general/").content.decode()
        assert "<dd>Acme</dd>" in html


def test_pages_carry_a_description_an_icon_and_a_way_to_the_api_reference(alice):
    html = signed_in(alice).get(LIST_URL).content.decode()
    assert '<meta name="description" content="Keyhouse: create, rotate and revoke' in html
    assert '<link rel="icon" href="/favicon.ico"' in html
    assert '<a href="/api/docs/">API reference</a>' in html
    icon = Client().get("/favicon.ico")
    assert icon.status_code == 200 and b"".join(icon.streaming_content)[:4] == b"\0\0\1\0"


def test_pages_are_compressed_but_never_the_one_showing_a_new_key(alice):
    client = signed_in(alice)
    page = client.get(LIST_URL, HTTP_ACCEPT_ENCODING="gzip")
    assert page["Content-Encoding"] == "gzip"
    shown = client.post(NEW_URL, {"name": "Fresh", "never_expires": "on", "mode": "live"}, HTTP_ACCEPT_ENCODING="gzip")
    assert shown.status_code == 200 and shown["Cache-Control"] == "no-store"
    assert "Content-Encoding" not in shown and b"sk_live_" in shown.content
