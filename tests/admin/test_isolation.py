"""An admin of company A tries every admin page and action on company B's objects."""
import pytest
from django.test import Client

from accounts.access import OPERATOR
from accounts.models import Membership, Role
from audit.models import AuditEvent
from keys.limit_services import limits_set
from keys.models import ApiKey, KeyLimit
from keys.services import api_key_revoke
from tests.clients import key_client
from tests.factories import make_key, member
from usage.models import RequestLog

pytestmark = pytest.mark.django_db


@pytest.fixture
def company_b(other_company, outsider_admin):
    """Globex: a member with a used, limited key, so B has keys, usage, limits and audit events."""
    bea = member(other_company, Role.MEMBER, username="bea")
    key, raw = make_key(bea, name="Globex secret project")
    limits_set(api_key=key, grantor=OPERATOR, request_limit=100)
    key_client(raw).get("/api/v1/me")
    return {"key": key, "membership": Membership.objects.get(user=bea), "user": bea,
            "log": RequestLog.objects.get(api_key=key), "event": AuditEvent.objects.filter(api_key=key).first()}


@pytest.fixture
def admin_a(admin, alice):
    make_key(alice, name="Acme laptop")
    client = Client()
    client.force_login(admin)
    return client


def test_company_admin_gets_in_and_member_does_not(admin_a, alice):
    assert admin_a.get("/admin/").status_code == 200
    member_client = Client()
    member_client.force_login(alice)
    assert member_client.get("/admin/").status_code == 302  # to the admin login page
    assert member_client.get("/admin/keys/apikey/").status_code == 302


def test_admin_login_form_refuses_members(alice):
    response = Client().post("/admin/login/", {"username": "alice", "password": "correct horse battery staple"})
    assert response.status_code == 200
    assert "company admin or owner" in response.content.decode()


@pytest.mark.parametrize("url, other_name", [
    ("/admin/keys/apikey/", "Globex secret project"),
    ("/admin/keys/apikey/?owner__id__exact={user}", "Globex secret project"),
    ("/admin/keys/apikey/?q=Globex", "Globex secret project"),
    ("/admin/accounts/membership/", "bea"),
    ("/admin/accounts/company/", "Globex"),
    ("/admin/usage/requestlog/", "Globex secret project"),
    ("/admin/usage/requestlog/?api_key__id__exact={key}", "Globex secret project"),
    ("/admin/keys/auditevent/", "Globex secret project"),
    ("/admin/auth/user/", "bea"),
])
def test_lists_never_show_the_other_company(url, other_name, admin_a, company_b):
    response = admin_a.get(url.format(user=company_b["user"].pk, key=company_b["key"].pk))
    assert response.status_code == 200
    assert other_name not in response.content.decode()


def test_own_company_rows_are_listed(admin_a):
    body = admin_a.get("/admin/keys/apikey/").content.decode()
    assert "Acme laptop" in body and "sk_live_" in body


@pytest.mark.parametrize("path", [
    "/admin/keys/apikey/{key}/change/",
    "/admin/accounts/membership/{membership}/change/",
    "/admin/accounts/membership/{membership}/delete/",
    "/admin/accounts/company/{company}/change/",
    "/admin/usage/requestlog/{log}/change/",
    "/admin/keys/auditevent/{event}/change/",
    "/admin/auth/user/{user}/change/",
])
def test_object_urls_of_the_other_company_are_404(path, admin_a, company_b):
    url = path.format(key=company_b["key"].pk, membership=company_b["membership"].pk,
                      company=company_b["key"].company_id, log=company_b["log"].pk, event=company_b["event"].pk,
                      user=company_b["user"].pk)
    assert admin_a.get(url).status_code == 404
    # A POST may be refused before the lookup (403: an admin may not change memberships at
    # all), which says nothing about whether the object exists.
    assert admin_a.post(url, {"name": "hijacked", "role": "owner"}).status_code in (403, 404)
    assert ApiKey.objects.get(pk=company_b["key"].pk).name == "Globex secret project"
    assert Membership.objects.get(pk=company_b["membership"].pk).role == "member"


@pytest.mark.parametrize("action", ["revoke_selected", "extend_expiry"])
def test_actions_with_the_other_companys_ids_change_nothing(action, admin_a, company_b):
    key = company_b["key"]
    response = admin_a.post("/admin/keys/apikey/", {"action": action, "_selected_action": [str(key.pk)],
                                                    "confirmed": "yes", "days": "90"})
    assert response.status_code in (200, 302)
    key.refresh_from_db()
    assert key.revoked_at is None and key.expires_at is None


def test_autocomplete_offers_only_own_members(admin_a, company_b):
    response = admin_a.get("/admin/autocomplete/", {"app_label": "keys", "model_name": "apikey",
                                                    "field_name": "owner", "term": ""})
    assert response.status_code == 200
    names = {item["text"] for item in response.json()["results"]}
    assert "bea" not in names and {"alice", "adam"} <= names


def test_add_form_choices_are_scoped(admin_a, company_b):
    body = admin_a.get("/admin/keys/apikey/add/").content.decode()
    assert "Acme" in body and "Globex" not in body


def test_adding_a_key_for_another_companys_member_is_refused(admin_a, company, company_b):
    response = admin_a.post("/admin/keys/apikey/add/", {"company": company.pk, "owner": company_b["user"].pk,
                                                        "name": "sneaky", "mode": "live"})
    assert response.status_code == 200
    assert not ApiKey.objects.filter(name="sneaky").exists()


def test_limits_of_the_other_company_cannot_be_reached(admin_a, company_b):
    assert admin_a.get(f"/admin/usage/keylimit/{company_b['key'].pk}/change/").status_code == 404
    assert KeyLimit.objects.get(api_key=company_b["key"]).request_limit == 100


def test_superuser_sees_everything(company_b, admin_a):
    from tests.factories import UserFactory

    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    client = Client()
    client.force_login(root)
    body = client.get("/admin/keys/apikey/").content.decode()
    assert "Globex secret project" in body and "Acme laptop" in body


def test_revoked_keys_are_read_only(admin_a, alice):
    key, _ = make_key(alice, name="Old")
    api_key_revoke(api_key=key, actor_user=alice)
    response = admin_a.post(f"/admin/keys/apikey/{key.pk}/change/", {"name": "Renamed"})
    assert response.status_code == 403
    key.refresh_from_db()
    assert key.name == "Old"
