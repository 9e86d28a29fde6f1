"""The company's key policy: maximum lifetime, required expiry, unused-key candidates."""
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from keys.company_services import company_policy_set
from keys.models import ApiKey
from tests.clients import session_client
from tests.factories import make_key

pytestmark = pytest.mark.django_db


def iso(days: float) -> str:
    return (timezone.now() + timedelta(days=days)).isoformat()


@pytest.fixture
def strict(company):
    return company_policy_set(company=company, max_key_lifetime_days=90, require_key_expiry=True, unused_key_days=30)


@pytest.mark.parametrize("expires_at, status", [(None, 400), (iso(91), 400), (iso(89), 201)],
                         ids=["no-expiry", "91-days", "89-days"])
def test_creation_respects_the_policy(expires_at, status, strict, alice):
    body = {"name": "x", **({"expires_at": expires_at} if expires_at else {})}
    response = session_client(alice).post("/api/v1/api-keys", body, format="json")
    assert response.status_code == status
    if status == 400:
        assert response.json()["code"] == "policy_violation"
        assert "Acme" in response.json()["detail"]
    assert ApiKey.objects.count() == (1 if status == 201 else 0)


def test_required_expiry_alone(company, alice):
    company_policy_set(company=company, max_key_lifetime_days=None, require_key_expiry=True, unused_key_days=90)
    client = session_client(alice)
    assert client.post("/api/v1/api-keys", {"name": "x"}, format="json").status_code == 400
    assert client.post("/api/v1/api-keys", {"name": "x", "expires_at": iso(3000)}, format="json").status_code == 201


def test_extension_respects_the_policy(strict, alice):
    key, _ = make_key(alice, expires_at=timezone.now() + timedelta(days=10))
    client = session_client(alice)
    too_far = client.patch(f"/api/v1/api-keys/{key.pk}", {"expires_at": iso(120)}, format="json")
    assert too_far.status_code == 400 and too_far.json()["code"] == "policy_violation"
    never = client.patch(f"/api/v1/api-keys/{key.pk}", {"expires_at": None}, format="json")
    assert never.status_code == 400
    assert client.patch(f"/api/v1/api-keys/{key.pk}", {"expires_at": iso(60)}, format="json").status_code == 200


def test_admin_extend_action_reports_policy_refusals(strict, admin, alice):
    key, _ = make_key(alice, expires_at=timezone.now() + timedelta(days=80))
    client = Client()
    client.force_login(admin)
    page = client.post("/admin/keys/apikey/", {"action": "extend_expiry", "_selected_action": [str(key.pk)],
                                               "days": "30"}, follow=True)
    assert "Not extended" in page.content.decode() and "at most 90 days" in page.content.decode()
    assert ApiKey.objects.get(pk=key.pk).expires_at == key.expires_at


def test_policy_api_owner_sets_others_read(owner, admin, alice):
    url = "/api/v1/company/policy"
    assert session_client(alice).get(url).json() == {
        "company_id": owner.memberships.get().company_id, "max_key_lifetime_days": None,
        "require_key_expiry": False, "unused_key_days": 90, "default_request_limit": None,
        "default_budget_limit_microcents": None, "default_limit_period": "monthly"}
    body = {"max_key_lifetime_days": 90, "require_key_expiry": True, "unused_key_days": 60}
    assert session_client(admin).put(url, body, format="json").status_code == 403
    assert session_client(owner).put(url, body, format="json").json()["max_key_lifetime_days"] == 90
    event = AuditEvent.objects.get(action="company.policy_changed")
    assert event.changes["after"]["require_key_expiry"] is True and event.actor_label == "olivia"


@pytest.mark.parametrize("body", [
    {"max_key_lifetime_days": 0, "require_key_expiry": False, "unused_key_days": 90},
    {"max_key_lifetime_days": 90, "require_key_expiry": False, "unused_key_days": 99999},
    {"max_key_lifetime_days": "ninety", "require_key_expiry": False, "unused_key_days": 90},
    {"require_key_expiry": True},
])
def test_bad_policy_is_400_and_changes_nothing(body, owner, company):
    response = session_client(owner).put("/api/v1/company/policy", body, format="json")
    assert response.status_code == 400
    company.refresh_from_db()
    assert (company.max_key_lifetime_days, company.require_key_expiry) == (None, False)


def test_unused_keys_are_listed_as_candidates(company, alice):
    company_policy_set(company=company, max_key_lifetime_days=None, require_key_expiry=False, unused_key_days=30)
    long_ago = timezone.now() - timedelta(days=45)
    stale, _ = make_key(alice, name="stale")
    ApiKey.objects.filter(pk=stale.pk).update(last_used_at=long_ago)
    never, _ = make_key(alice, name="never used")
    ApiKey.objects.filter(pk=never.pk).update(created_at=long_ago)
    make_key(alice, name="fresh")
    names = {k["name"] for k in session_client(alice).get("/api/v1/api-keys?status=unused").json()["items"]}
    assert names == {"stale", "never used"}
