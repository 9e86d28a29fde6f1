"""The grant rule on time: a key with an expiry makes no key outlive it. A key leaked a day
before it expires could make itself never expire, or make a key that never does."""
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from keys.models import ApiKey
from tests.clients import key_client, problem, session_client
from tests.factories import make_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def expiring(alice):
    """(key, raw) of alice's that expires in an hour."""
    return make_key(alice, name="Expiring", expires_at=timezone.now().replace(microsecond=0) + timedelta(hours=1))


@pytest.mark.parametrize("later", [None, timedelta(days=1)])
def test_a_key_does_not_extend_itself_or_another_key_past_its_own_expiry(alice, expiring, later):
    key, raw = expiring
    other, _ = make_key(alice, name="Other", expires_at=key.expires_at)
    events = AuditEvent.objects.count()
    for target in (key, other):
        new = None if later is None else (key.expires_at + later).isoformat()
        response = key_client(raw).patch(f"/api/v1/api-keys/{target.pk}", {"expires_at": new}, format="json")
        assert response.status_code == 403
        assert problem(response)["code"] == "expiry_not_allowed"
        assert ApiKey.objects.get(pk=target.pk).expires_at == key.expires_at
    assert AuditEvent.objects.count() == events


def test_a_key_may_bring_an_expiry_forward(expiring):
    key, raw = expiring
    sooner = key.expires_at - timedelta(minutes=30)
    response = key_client(raw).patch(f"/api/v1/api-keys/{key.pk}", {"expires_at": sooner.isoformat()}, format="json")
    assert response.status_code == 200
    assert ApiKey.objects.get(pk=key.pk).expires_at == sooner


def test_a_key_made_by_an_expiring_key_expires_with_it_or_sooner(expiring):
    key, raw = expiring
    response = key_client(raw).post("/api/v1/api-keys", {"name": "Child"}, format="json")
    assert response.status_code == 201
    assert ApiKey.objects.get(name="Child").expires_at == key.expires_at
    response = key_client(raw).post("/api/v1/api-keys", {"name": "Later child", "expires_at": (
        key.expires_at + timedelta(days=1)).isoformat()}, format="json")
    assert response.status_code == 403 and problem(response)["code"] == "expiry_not_allowed"
    assert not ApiKey.objects.filter(name="Later child").exists()


def test_an_expiring_key_obtains_no_value_of_a_key_that_outlives_it(alice, expiring):
    _, raw = expiring
    lasting, _ = make_key(alice, name="Lasting")
    response = key_client(raw).post(f"/api/v1/api-keys/{lasting.pk}/regenerate", {"grace_period_seconds": 0},
                                    format="json")
    assert response.status_code == 403 and problem(response)["code"] == "expiry_not_allowed"
    assert ApiKey.objects.get(pk=lasting.pk).key_hash == lasting.key_hash


def test_a_person_and_a_key_without_an_expiry_are_not_held_to_it(alice, expiring):
    key, _ = expiring
    assert session_client(alice).patch(f"/api/v1/api-keys/{key.pk}", {"expires_at": None},
                                       format="json").status_code == 200
    _, lasting_raw = make_key(alice, name="Lasting")
    response = key_client(lasting_raw).post("/api/v1/api-keys", {"name": "Child"}, format="json")
    assert response.status_code == 201 and ApiKey.objects.get(name="Child").expires_at is None
