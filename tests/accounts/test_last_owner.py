"""A company always keeps an owner: its last owner can be neither demoted nor removed, on any
surface that changes memberships (the services, Django admin, the addmember command), and
two owners stepping down at once leave one of them owner.

The API and the dashboard have no route that changes a membership (keys.company_apis has
/me and the key policy; web.settings_views the General page and the company switcher), so
there is nothing there to refuse."""
from html import unescape
from io import StringIO

import pytest
from django.contrib.admin.models import LogEntry
from django.core.management import CommandError, call_command
from django.test import Client

from accounts.models import Membership, Role
from audit.models import AuditAction, AuditEvent
from core.errors import Conflict
from keys.company_services import membership_remove, membership_set
from keys.models import ApiKey
from tests.concurrency import one_while_the_other_is_open
from tests.factories import make_key, member

pytestmark = pytest.mark.django_db
ADVICE = "make someone else an owner first"
MEMBERSHIPS = "/admin/accounts/membership/"


def owners(company) -> set[str]:
    return set(Membership.objects.filter(company=company, role=Role.OWNER).values_list("user__username", flat=True))


@pytest.fixture
def acme(company, owner, alice):
    """Acme with one owner, olivia, who holds a key; and alice, a member."""
    make_key(owner, name="Olivia's deploy key")
    return company


def in_admin(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page_text(response) -> str:
    return unescape(response.content.decode())


# --- the services: one rule, every surface calls it ---

@pytest.mark.parametrize("role", [Role.ADMIN, Role.MEMBER])
def test_the_last_owner_cannot_be_demoted(acme, owner, role):
    with pytest.raises(Conflict) as refused:
        membership_set(user=owner, company=acme, role=role)
    assert refused.value.code == "last_owner" and refused.value.status == 409
    assert "olivia" in refused.value.message and ADVICE in refused.value.message
    assert owners(acme) == {"olivia"}
    assert not AuditEvent.objects.filter(action=AuditAction.MEMBERSHIP_ROLE_CHANGED).exists()


def test_the_last_owner_cannot_be_removed_and_keeps_their_keys(acme, owner):
    with pytest.raises(Conflict) as refused:
        membership_remove(membership=Membership.objects.get(user=owner))
    assert refused.value.code == "last_owner" and ADVICE in refused.value.message
    assert owners(acme) == {"olivia"}
    assert ApiKey.objects.get(owner=owner).revoked_at is None
    assert not AuditEvent.objects.filter(action=AuditAction.MEMBERSHIP_REMOVED).exists()


def test_the_last_owner_may_be_set_owner_again(acme, owner):
    assert membership_set(user=owner, company=acme, role=Role.OWNER).role == Role.OWNER


def test_with_a_second_owner_the_first_may_step_down_and_then_the_second_may_not(acme, owner, alice):
    membership_set(user=alice, company=acme, role=Role.OWNER)
    membership_set(user=owner, company=acme, role=Role.MEMBER)
    assert owners(acme) == {"alice"}
    with pytest.raises(Conflict):
        membership_remove(membership=Membership.objects.get(user=alice))
    assert owners(acme) == {"alice"}


def test_with_a_second_owner_an_owner_may_be_removed(acme, owner, alice):
    membership_set(user=alice, company=acme, role=Role.OWNER)
    membership_remove(membership=Membership.objects.get(user=owner))
    assert owners(acme) == {"alice"}


def test_members_and_admins_come_and_go_as_before(acme, admin, alice):
    membership_set(user=alice, company=acme, role=Role.ADMIN)
    membership_remove(membership=Membership.objects.get(user=admin))
    assert owners(acme) == {"olivia"} and Membership.objects.get(user=alice).role == Role.ADMIN


def test_an_owner_of_another_company_does_not_count(acme, owner, other_company):
    member(other_company, Role.OWNER, username="gus")
    with pytest.raises(Conflict):
        membership_set(user=owner, company=acme, role=Role.ADMIN)


@pytest.mark.django_db(transaction=True)
def test_two_owners_demoting_themselves_at_once_leave_one_owner(company):
    """The second demotion must wait for the first (the owners' rows are locked) and then
    find that it would remove the last owner."""
    olivia = member(company, Role.OWNER, username="olivia")
    otto = member(company, Role.OWNER, username="otto")
    outcomes = one_while_the_other_is_open(lambda: membership_set(user=olivia, company=company, role=Role.ADMIN),
                                           lambda: membership_set(user=otto, company=company, role=Role.ADMIN))
    assert outcomes == ("done", "last_owner")
    assert owners(company) == {"otto"}


# --- Django admin: an error message on the page, never a 500, and nothing changed ---

def test_admin_change_form_refuses_to_demote_the_last_owner(acme, owner):
    membership = Membership.objects.get(user=owner)
    url = f"{MEMBERSHIPS}{membership.pk}/change/"
    response = in_admin(owner).post(url, {"role": Role.ADMIN, "_save": "Save"}, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == url
    assert ADVICE in page_text(response) and "Nothing was changed." in page_text(response)
    assert owners(acme) == {"olivia"}
    assert not LogEntry.objects.exists()


def test_admin_change_form_still_demotes_an_owner_when_another_remains(acme, owner, alice):
    membership_set(user=alice, company=acme, role=Role.OWNER)
    membership = Membership.objects.get(user=owner)
    response = in_admin(alice).post(f"{MEMBERSHIPS}{membership.pk}/change/", {"role": Role.ADMIN, "_save": "Save"})
    assert response.status_code == 302
    assert owners(acme) == {"alice"}


def test_admin_delete_refuses_to_remove_the_last_owner(acme, owner):
    membership = Membership.objects.get(user=owner)
    response = in_admin(owner).post(f"{MEMBERSHIPS}{membership.pk}/delete/", {"post": "yes"}, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == f"{MEMBERSHIPS}{membership.pk}/change/"
    assert ADVICE in page_text(response)
    assert Membership.objects.filter(pk=membership.pk).exists() and owners(acme) == {"olivia"}
    assert ApiKey.objects.get(owner=owner).revoked_at is None
    assert not LogEntry.objects.exists()  # the deletion's log entry went back with it


def test_admin_bulk_delete_with_the_last_owner_removes_nobody(acme, owner, alice):
    selected = [str(m.pk) for m in Membership.objects.filter(company=acme)]
    response = in_admin(owner).post(MEMBERSHIPS, {"action": "delete_selected", "_selected_action": selected,
                                                  "post": "yes"}, follow=True)
    assert response.status_code == 200
    text = page_text(response)
    assert ADVICE in text and "Nothing was changed." in text and "Successfully deleted" not in text
    assert set(Membership.objects.filter(company=acme).values_list("user__username", flat=True)) == {"olivia", "alice"}
    assert not LogEntry.objects.exists()


def test_admin_bulk_delete_without_the_last_owner_works(acme, owner, alice):
    selected = [str(Membership.objects.get(user=alice).pk)]
    response = in_admin(owner).post(MEMBERSHIPS, {"action": "delete_selected", "_selected_action": selected,
                                                  "post": "yes"}, follow=True)
    assert "Successfully deleted 1 membership" in page_text(response)
    assert not Membership.objects.filter(user=alice).exists() and owners(acme) == {"olivia"}


# --- the addmember command ---

def test_addmember_refuses_to_demote_the_last_owner(acme, owner):
    with pytest.raises(CommandError, match=ADVICE):
        call_command("addmember", "olivia", "--company", "Acme", "--role", "member", stdout=StringIO(),
                     stderr=StringIO())
    assert owners(acme) == {"olivia"}
