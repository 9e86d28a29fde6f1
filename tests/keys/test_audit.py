"""Each change on each surface leaves exactly one audit event, with the right actor and
surface, and none holds a secret. Events cannot be changed or deleted."""
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.test import Client

from accounts.access import OPERATOR
from accounts.models import Membership
from audit.models import AuditEvent, AuditEventImmutable
from keys.limit_services import limits_set
from keys.models import ApiKey
from tests.clients import key_client, session_client
from tests.dashboard.conftest import NEW_URL, key_url, signed_in
from tests.factories import make_key
from tests.html import select_one

pytestmark = pytest.mark.django_db


def only_event(**filters) -> AuditEvent:
    events = list(AuditEvent.objects.filter(**filters))
    assert len(events) == 1, [(e.action, e.surface) for e in AuditEvent.objects.all()]
    return events[0]


def admin_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# (surface, action, how) — `how(ctx)` performs the change as `ctx["actor"]` on `ctx["key"]`.
CHANGES = {
    "api create": (
        "api",
        "key.created",
        lambda c: session_client(c["alice"]).post("/api/v1/api-keys", {"name": "New"}, format="json"),
    ),
    "api rename": (
        "api",
        "key.renamed",
        lambda c: session_client(c["alice"]).patch(
            f"/api/v1/api-keys/{c['key'].pk}", {"name": "Renamed"}, format="json"
        ),
    ),
    "api expiry": (
        "api",
        "key.expiry_changed",
        lambda c: session_client(c["alice"]).patch(
            f"/api/v1/api-keys/{c['key'].pk}", {"expires_at": "2099-01-01T00:00:00Z"}, format="json"
        ),
    ),
    "api regenerate by key": (
        "api",
        "key.regenerated",
        lambda c: key_client(c["raw"]).post(f"/api/v1/api-keys/{c['key'].pk}/regenerate"),
    ),
    "api revoke": (
        "api",
        "key.revoked",
        lambda c: session_client(c["alice"]).delete(f"/api/v1/api-keys/{c['key'].pk}"),
    ),
    "api limits set": (
        "api",
        "limits.set",
        lambda c: session_client(c["admin"]).put(
            f"/api/v1/api-keys/{c['key'].pk}/limits", {"request_limit": 5}, format="json"
        ),
    ),
    "dashboard create": (
        "dashboard",
        "key.created",
        lambda c: signed_in(c["alice"]).post(NEW_URL, {"name": "From the page", "mode": "test", "never_expires": "on"}),
    ),
    "dashboard rename": (
        "dashboard",
        "key.renamed",
        lambda c: signed_in(c["alice"]).post(key_url(c["key"], "rename"), {"name": "Renamed"}),
    ),
    "dashboard revoke": ("dashboard", "key.revoked", lambda c: signed_in(c["alice"]).post(key_url(c["key"], "revoke"))),
    "dashboard regenerate": (
        "dashboard",
        "key.regenerated",
        lambda c: signed_in(c["alice"]).post(key_url(c["key"], "regenerate")),
    ),
    "admin rename": (
        "admin",
        "key.renamed",
        lambda c: admin_client(c["admin"]).post(
            f"/admin/keys/apikey/{c['key'].pk}/change/",
            {"name": "Renamed", "expires_at_0": "", "expires_at_1": "", "scopes": ["all"], **EMPTY_LIMIT_INLINE},
        ),
    ),
    "admin revoke action": (
        "admin",
        "key.revoked",
        lambda c: admin_client(c["admin"]).post(
            "/admin/keys/apikey/",
            {"action": "revoke_selected", "_selected_action": [str(c["key"].pk)], "confirmed": "yes"},
        ),
    ),
}
EMPTY_LIMIT_INLINE = {"limit-TOTAL_FORMS": "0", "limit-INITIAL_FORMS": "0", "limit-MIN_NUM_FORMS": "0",
                      "limit-MAX_NUM_FORMS": "1"}
ACTORS = {"api regenerate by key": "alice", "api limits set": "adam", "admin rename": "adam",
          "admin revoke action": "adam"}


@pytest.mark.parametrize("change", CHANGES)
def test_each_change_leaves_one_event_with_actor_and_surface(change, alice, admin, alice_key):
    surface, action, how = CHANGES[change]
    key, raw = alice_key
    AuditEvent.objects.filter(action="key.created").exists()  # the fixture's own creation event
    before = set(AuditEvent.objects.values_list("pk", flat=True))
    response = how({"alice": alice, "admin": admin, "key": key, "raw": raw})
    assert response.status_code < 400, response.content[:500]
    new = AuditEvent.objects.exclude(pk__in=before)
    assert [(e.action, e.surface) for e in new] == [(action, surface)]
    event = new.get()
    assert event.actor_label == ACTORS.get(change, "alice")
    assert event.company.name == "Acme"
    if change == "api regenerate by key":
        assert event.actor_key_id == key.pk
    if surface in ("api", "dashboard", "admin"):
        assert event.ip == "127.0.0.1"


def test_changes_record_before_and_after(alice, alice_key):
    key, _ = alice_key
    session_client(alice).patch(f"/api/v1/api-keys/{key.pk}", {"name": "After"}, format="json")
    assert only_event(action="key.renamed").changes == {"name": {"before": "Alice's laptop", "after": "After"}}


def test_limits_changed_and_removed(admin, alice_key):
    key, _ = alice_key
    client = session_client(admin)
    url = f"/api/v1/api-keys/{key.pk}/limits"
    client.put(url, {"request_limit": 5}, format="json")
    client.put(url, {"request_limit": 5}, format="json")  # no change, no event
    client.put(url, {"request_limit": 9}, format="json")
    client.delete(url)
    assert list(
        AuditEvent.objects.filter(action__startswith="limits").order_by("id").values_list("action", flat=True)
    ) == ["limits.set", "limits.changed", "limits.removed"]
    assert only_event(action="limits.changed").changes["after"]["request_limit"] == 9


def test_commands_are_recorded_as_such(monkeypatch):
    monkeypatch.setenv("KEYHOUSE_PASSWORD", "a sturdy demo passphrase")
    call_command("addmember", "carol", "--company", "Initech", "--role", "member", stdout=StringIO(), stderr=StringIO())
    call_command("issuekey", "carol", "--name", "CLI", stdout=StringIO(), stderr=StringIO())
    added, created = only_event(action="membership.added"), only_event(action="key.created")
    assert (added.surface, added.actor_label, created.surface) == ("command", "operator", "command")


def test_membership_role_change_and_removal_in_admin(owner, alice, alice_key):
    membership = Membership.objects.get(user=alice)
    client = admin_client(owner)
    response = client.post(f"/admin/accounts/membership/{membership.pk}/change/", {"role": "admin"})
    assert response.status_code == 302
    event = only_event(action="membership.role_changed")
    assert (event.surface, event.actor_label, event.changes["role"]) == ("admin", "olivia",
                                                                        {"before": "member", "after": "admin"})
    response = client.post(f"/admin/accounts/membership/{membership.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert only_event(action="membership.removed").target_user_id == alice.pk
    assert ApiKey.objects.get(pk=alice_key[0].pk).revoked_at is not None  # keys go with the membership
    assert only_event(action="key.revoked").actor_label == "olivia"


def test_admins_cannot_change_roles_only_owners(admin, alice):
    membership = Membership.objects.get(user=alice)
    response = admin_client(admin).post(f"/admin/accounts/membership/{membership.pk}/change/", {"role": "owner"})
    assert response.status_code == 403
    assert Membership.objects.get(user=alice).role == "member"
    assert not AuditEvent.objects.filter(action="membership.role_changed").exists()


def test_a_revoked_key_used_twice_within_a_minute_is_one_security_event(alice, alice_key):
    key, raw = alice_key
    session_client(alice).delete(f"/api/v1/api-keys/{key.pk}")
    key_client(raw).get("/api/v1/me")
    key_client(raw).get("/api/v1/me")
    event = only_event(action="security.revoked_key_used")
    assert (event.api_key_id, event.surface, event.actor_user_id) == (key.pk, "api", None)


def test_admin_created_key_is_shown_once_on_the_page_after_saving(admin, company, alice):
    client = admin_client(admin)
    response = client.post("/admin/keys/apikey/add/", {"company": company.pk, "owner": alice.pk,
                                                       "name": "Billing service", "mode": "live"})
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    key = ApiKey.objects.get(name="Billing service")
    raw = select_one(response, "[data-select-on-focus]").get_text()
    assert key_client(raw).get("/api/v1/me").json()["api_key"]["id"] == str(key.pk)
    assert raw not in str(response.cookies) and "messages" not in response.cookies
    assert raw not in client.get(f"/admin/keys/apikey/{key.pk}/change/").content.decode()
    assert raw not in client.get("/admin/keys/apikey/").content.decode()
    event = only_event(action="key.created", api_key=key)
    assert (event.surface, event.actor_label) == ("admin", "adam")


def test_no_event_holds_a_raw_key(alice, admin, alice_key):
    key, raw = alice_key
    new = key_client(raw).post(f"/api/v1/api-keys/{key.pk}/regenerate").json()["key"]
    session_client(alice).delete(f"/api/v1/api-keys/{key.pk}")
    key_client(new).get("/api/v1/me")
    stored = str(list(AuditEvent.objects.values()))
    assert AuditEvent.objects.count() >= 3
    for secret in (raw, new):
        assert secret not in stored and secret[8:40] not in stored


def test_events_cannot_be_changed_or_deleted_through_the_orm(alice_key):
    event = AuditEvent.objects.first()
    event.action = "key.revoked"
    with pytest.raises(AuditEventImmutable):
        event.save()
    with pytest.raises(AuditEventImmutable):
        event.delete()
    with pytest.raises(AuditEventImmutable):
        AuditEvent.objects.update(action="key.revoked")
    with pytest.raises(AuditEventImmutable):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "key.created"


def test_the_database_refuses_to_change_events_on_postgresql(alice_key):
    """On PostgreSQL a trigger refuses even raw SQL; SQLite has the model guard only."""
    table = AuditEvent._meta.db_table
    refused = pytest.raises(DatabaseError) if connection.vendor == "postgresql" else _no_error()
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET action = 'key.revoked'")
    expected = "key.created" if connection.vendor == "postgresql" else "key.revoked"
    assert AuditEvent.objects.get().action == expected


class _no_error:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_admins_see_company_events_and_members_their_own_keys(alice, bob, admin, alice_key):
    bob_key, _ = make_key(bob, name="Bob's")
    session_client(alice).patch(f"/api/v1/api-keys/{alice_key[0].pk}", {"name": "Alice's desktop"}, format="json")
    url = "/api/v1/audit-events"
    assert {e["api_key"]["id"] for e in session_client(alice).get(url).json()["items"]} == {str(alice_key[0].pk)}
    admin_view = session_client(admin).get(url).json()
    assert {e["api_key"]["id"] for e in admin_view["items"]} == {str(alice_key[0].pk), str(bob_key.pk)}
    assert admin_view["items"][0]["action"] == "key.renamed"  # newest first
    filtered = session_client(admin).get(f"{url}?key={bob_key.pk}&action=key.created").json()
    assert filtered["total"] == 1
    assert session_client(admin).get(f"{url}?actor={alice.pk}").json()["total"] == 1


@pytest.mark.parametrize("query", ["key=nope", "action=key.exploded", "since=yesterday", "until=2026-01-01T00:00:00",
                                   "actor=-3"])
def test_bad_audit_filters_are_400(query, admin):
    response = session_client(admin).get(f"/api/v1/audit-events?{query}")
    assert response.status_code == 400 and response.json()["code"] == "validation_error"


def test_other_companies_events_never_appear(outsider_admin, alice_key):
    assert session_client(outsider_admin).get("/api/v1/audit-events").json()["items"] == []


def test_limits_set_by_a_service_call_outside_a_request_is_a_command_event(alice_key):
    limits_set(api_key=alice_key[0], grantor=OPERATOR, request_limit=3)
    assert only_event(action="limits.set").surface == "command"
