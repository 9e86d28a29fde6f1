"""At most API_KEYS_PER_USER active keys per person and company, on every surface that
creates keys: the API (both routes), the dashboard, Django admin and issuekey. Revoked and
expired keys do not count; two creates at once cannot both take the last place."""
from datetime import timedelta
from html import unescape
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.utils import timezone

from accounts.models import Membership, Role
from core.errors import Conflict
from keys.models import ApiKey
from keys.services import api_key_create, api_key_revoke
from tests.clients import key_client, problem, session_client
from tests.concurrency import one_while_the_other_is_open
from tests.dashboard.conftest import NEW_URL, signed_in
from tests.factories import make_key, member

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("cap_of_three")]
CAP = 3
ADVICE = "revoke unused keys first"


@pytest.fixture
def cap_of_three():
    with override_settings(API_KEYS_PER_USER=CAP):
        yield


@pytest.fixture
def full(alice):
    """Alice at the cap; returns the raw value of one of her keys."""
    return [make_key(alice, name=f"key {n}")[1] for n in range(CAP)][0]


def alice_keys(alice) -> int:
    return ApiKey.objects.filter(owner=alice).count()


# --- the rule ---

def test_the_key_past_the_cap_is_refused_with_what_to_do(alice, full):
    with pytest.raises(Conflict) as refused:
        make_key(alice, name="one too many")
    error = refused.value
    assert (error.code, error.status) == ("too_many_api_keys", 409)
    assert f"{CAP} active API keys" in error.message and f"at most {CAP}" in error.message
    assert ADVICE in error.message
    assert error.extra == {"active_keys": CAP, "limit": CAP}
    assert alice_keys(alice) == CAP


def test_revoked_and_expired_keys_do_not_count(alice, full):
    keys = list(ApiKey.objects.filter(owner=alice))
    api_key_revoke(api_key=keys[0])
    ApiKey.objects.filter(pk=keys[1].pk).update(expires_at=timezone.now() - timedelta(days=1))
    make_key(alice, name="fresh 1")
    make_key(alice, name="fresh 2")
    with pytest.raises(Conflict):
        make_key(alice, name="fresh 3")


def test_the_cap_is_per_person_and_per_company(alice, bob, full, other_company):
    make_key(bob, name="bob's own")
    Membership.objects.create(user=alice, company=other_company, role=Role.MEMBER)
    api_key_create(company=other_company, owner=alice, name="alice at Globex")
    assert ApiKey.objects.filter(owner=alice, company=other_company).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_creates_at_once_cannot_both_take_the_last_place(company):
    """The second create must wait for the first (the owner's membership row is locked) and
    then count the key the first one made."""
    carol = member(company, Role.MEMBER, username="carol")
    with override_settings(API_KEYS_PER_USER=1):
        outcomes = one_while_the_other_is_open(lambda: api_key_create(company=company, owner=carol, name="first"),
                                               lambda: api_key_create(company=company, owner=carol, name="second"))
    assert outcomes == ("done", "too_many_api_keys")
    assert list(ApiKey.objects.filter(owner=carol).values_list("name", flat=True)) == ["first"]


# --- every surface shows it ---

def _refused_in_the_error_shape(response):
    assert response.status_code == 409, response.content
    error = problem(response)
    assert error["code"] == "too_many_api_keys" and ADVICE in error["detail"]
    assert (error["active_keys"], error["limit"]) == (CAP, CAP)


@pytest.mark.parametrize("caller", ["session", "key"])
def test_api_create_is_409(caller, alice, full):
    client = session_client(alice) if caller == "session" else key_client(full)
    _refused_in_the_error_shape(client.post("/api/v1/api-keys", {"name": "one too many"}, format="json"))
    assert alice_keys(alice) == CAP


def test_api_create_for_a_member_is_409(admin, alice, full):
    response = session_client(admin).post(f"/api/v1/users/{alice.pk}/api-keys", {"name": "for alice"}, format="json")
    _refused_in_the_error_shape(response)
    assert alice_keys(alice) == CAP


def test_dashboard_shows_the_refusal_on_the_form(alice, full):
    response = signed_in(alice).post(NEW_URL, {"name": "one too many", "never_expires": "on", "mode": "live"})
    assert response.status_code == 409
    html = unescape(response.content.decode())
    assert ADVICE in html and 'role="alert"' in html and "sk_live_" not in html
    assert alice_keys(alice) == CAP


def test_admin_add_shows_the_refusal_as_a_form_error(owner, company, alice, full):
    client = Client()
    client.force_login(owner)
    response = client.post("/admin/keys/apikey/add/", {"company": company.pk, "owner": alice.pk,
                                                       "name": "from admin", "mode": "live"})
    assert response.status_code == 200
    html = unescape(response.content.decode())
    assert ADVICE in html and "errornote" in html
    assert alice_keys(alice) == CAP


def test_admin_add_below_the_cap_still_creates_the_key(owner, company, alice):
    client = Client()
    client.force_login(owner)
    response = client.post("/admin/keys/apikey/add/", {"company": company.pk, "owner": alice.pk,
                                                       "name": "from admin", "mode": "live"})
    assert response.status_code == 200 and "Copy the new API key now" in response.content.decode()
    assert alice_keys(alice) == 1


def test_issuekey_fails_with_the_reason(alice, full):
    with pytest.raises(CommandError, match=ADVICE):
        call_command("issuekey", "alice", "--name", "from the shell", stdout=StringIO(), stderr=StringIO())
    assert alice_keys(alice) == CAP


def test_the_cap_defaults_to_a_hundred_and_env_example_lists_it():
    from config.settings import base

    assert base.API_KEYS_PER_USER == 100
    assert "API_KEYS_PER_USER=100" in (base.BASE_DIR / ".env.example").read_text()
