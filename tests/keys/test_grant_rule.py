"""A key never grants more than its caller may (keys.grants): each hole found when Keyhouse
was attacked, as the attacker tried it, with what the database holds afterwards."""
import hashlib
from io import StringIO

import pytest
from django.core.management import call_command

from accounts.access import OPERATOR
from accounts.models import Company, Membership
from keys.company_services import company_policy_set
from keys.limit_services import limits_set
from keys.models import ApiKey, KeyLimit
from keys.services import api_key_regenerate, api_key_set_restrictions
from tests.clients import key_client, session_client
from tests.factories import make_key

pytestmark = pytest.mark.django_db


def snapshot():
    """Every key and limit as stored: a refusal must leave both as they were."""
    keys = sorted(map(str, ApiKey.objects.values_list("id", "key_hash", "previous_key_hash", "revoked_at", "scopes",
                                                       "allowed_ips", "expires_at")))
    limits = sorted(map(str, KeyLimit.objects.values_list("api_key_id", "request_limit", "budget_limit_microcents")))
    return keys, limits


def import_legacy(tmp_path, raw: str):
    """Import one key of the previous system for alice (Acme), as an operator would; the CSV's path."""
    csv = tmp_path / "legacy.csv"
    csv.write_text("user,company,name,sha256_of_key,created_at,expires_at\n"
                   f"alice,Acme,Old,{hashlib.sha256(raw.encode()).hexdigest()},2024-01-01T00:00:00Z,\n")
    call_command("import_legacy_keys", str(csv), stdout=StringIO())
    return csv


def refused(response, status, code):
    assert response.status_code == status, response.content
    assert response.json()["code"] == code, response.content
    assert "key" not in response.json()


# 2. A scoped key regenerates a key with more scopes and receives its value.
def test_a_scoped_key_cannot_obtain_the_value_of_a_wider_key(alice):
    wide, _ = make_key(alice, name="Everything")
    scoped, scoped_raw = make_key(alice, name="Key manager", scopes=["keys:read", "keys:write"])
    before = snapshot()
    response = key_client(scoped_raw).post(f"/api/v1/api-keys/{wide.pk}/regenerate", {}, format="json")
    refused(response, 403, "scope_not_allowed")
    assert snapshot() == before
    same = key_client(scoped_raw).post(f"/api/v1/api-keys/{scoped.pk}/regenerate", {}, format="json")
    assert same.status_code == 200 and same.json()["scopes"] == ["keys:read", "keys:write"]


# 3. An admin acts as the owner: mints a key for them, or regenerates theirs and gets the value.
@pytest.mark.parametrize("how", ["session", "key"])
def test_an_admin_obtains_no_value_of_an_owners_key(owner, admin, how):
    owner_key, _ = make_key(owner, name="Owner's")
    api_key_set_restrictions(api_key=owner_key, grantor=OPERATOR, allowed_ips=["203.0.113.7"])
    caller = session_client(admin) if how == "session" else key_client(make_key(admin, name="Admin's")[1])
    before = snapshot()
    refused(caller.post(f"/api/v1/users/{owner.pk}/api-keys", {"name": "Mine now"}, format="json"),
            403, "permission_denied")
    refused(caller.post(f"/api/v1/api-keys/{owner_key.pk}/regenerate", {"grace_period_seconds": 3600},
                        format="json"), 403, "permission_denied")
    refused(caller.put(f"/api/v1/api-keys/{owner_key.pk}/restrictions", {"allowed_ips": []}, format="json"),
            403, "permission_denied")
    refused(caller.put(f"/api/v1/api-keys/{owner_key.pk}/limits", {"request_limit": 5}, format="json"),
            403, "permission_denied")
    assert snapshot() == before


def test_an_admin_still_manages_members_and_an_owner_everyone(owner, admin, alice):
    alice_key, _ = make_key(alice)
    admin_key, _ = make_key(admin, name="Admin's")
    assert (
        session_client(admin).post(f"/api/v1/api-keys/{alice_key.pk}/regenerate", {}, format="json").status_code == 200
    )
    assert (
        session_client(admin)
        .post(f"/api/v1/users/{alice.pk}/api-keys", {"name": "For Alice"}, format="json")
        .status_code
        == 201
    )
    assert (
        session_client(owner).post(f"/api/v1/api-keys/{admin_key.pk}/regenerate", {}, format="json").status_code == 200
    )
    # An admin cannot lift a limit an owner put on the admin's own key.
    limits_set(api_key=admin_key, grantor=OPERATOR, request_limit=10)
    refused(session_client(admin).delete(f"/api/v1/api-keys/{admin_key.pk}/limits"), 403, "permission_denied")
    assert KeyLimit.objects.filter(api_key=admin_key).exists()


# 4. A limited key creates a key without a limit.
def test_a_key_made_by_a_limited_key_is_limited_the_same_way(alice):
    limited, raw = make_key(alice, name="Limited")
    limits_set(api_key=limited, grantor=OPERATOR, request_limit=50, reset_period="daily")
    response = key_client(raw).post("/api/v1/api-keys", {"name": "Escape"}, format="json")
    assert response.status_code == 201, response.content
    made = KeyLimit.objects.get(api_key_id=response.json()["id"])
    assert (made.request_limit, made.budget_limit_microcents, made.reset_period) == (50, None, "daily")
    assert ApiKey.objects.get(pk=response.json()["id"]).created_with_key_id == limited.pk


def test_a_limited_key_cannot_obtain_a_value_of_an_unlimited_key(alice):
    unlimited, _ = make_key(alice, name="Unlimited")
    limited, raw = make_key(alice, name="Limited")
    limits_set(api_key=limited, grantor=OPERATOR, request_limit=50, reset_period="daily")
    before = snapshot()
    refused(key_client(raw).post(f"/api/v1/api-keys/{unlimited.pk}/regenerate", {}, format="json"),
            403, "limit_not_allowed")
    assert snapshot() == before


@pytest.mark.parametrize("surface", ["api", "dashboard", "command"])
def test_new_keys_start_with_the_companys_default_limit(company, owner, alice, surface):
    company_policy_set(company=company, max_key_lifetime_days=None, require_key_expiry=False, unused_key_days=90,
                       default_request_limit=1000, default_limit_period="weekly")
    if surface == "api":
        session_client(alice).post("/api/v1/api-keys", {"name": "New"}, format="json")
    elif surface == "dashboard":
        from django.test import Client

        client = Client()
        client.force_login(alice)
        client.post("/settings/advanced/api-keys/new/", {"name": "New", "never_expires": "on", "mode": "live"})
    else:
        call_command("issuekey", "alice", "--name", "New", stdout=StringIO(), stderr=StringIO())
    key = ApiKey.objects.get(owner=alice, name="New")
    assert (key.limit.request_limit, key.limit.reset_period) == (1000, "weekly")


def test_the_policy_api_sets_the_default_limit_and_leaves_it_when_not_sent(company, owner):
    url = "/api/v1/company/policy"
    body = {"max_key_lifetime_days": None, "require_key_expiry": False, "unused_key_days": 90}
    client = session_client(owner)
    set_ = client.put(url, {**body, "default_request_limit": 500, "default_limit_period": "daily"}, format="json")
    assert set_.status_code == 200 and set_.json()["default_request_limit"] == 500
    assert client.put(url, body, format="json").json()["default_request_limit"] == 500
    bad = client.put(url, {**body, "default_limit_period": "yearly"}, format="json")
    assert bad.status_code == 400 and Company.objects.get(pk=company.pk).default_limit_period == "daily"


# 5. The old value of a regenerated key takes the key over from its owner.
def test_an_old_value_in_its_grace_period_reads_but_manages_no_key(alice):
    key, old = make_key(alice, name="Rotating", scopes=["all"])
    api_key_regenerate(api_key=key, grantor=OPERATOR, grace_period_seconds=3600)
    client = key_client(old)
    assert client.get("/api/v1/me").status_code == 200
    assert client.get("/api/v1/api-keys").status_code == 200
    assert client.post("/api/v1/demo/report", {"title": "still works"}, format="json").status_code == 200
    before = snapshot()
    refused(client.post("/api/v1/api-keys", {"name": "Takeover"}, format="json"), 403, "grace_period_value")
    refused(client.post(f"/api/v1/api-keys/{key.pk}/regenerate", {}, format="json"), 403, "grace_period_value")
    refused(client.delete(f"/api/v1/api-keys/{key.pk}"), 403, "grace_period_value")
    assert snapshot() == before


def test_restrictions_set_by_a_key_stay_within_its_own_scopes(alice):
    other, _ = make_key(alice, name="Other", scopes=["usage:read"])
    _, raw = make_key(alice, name="Scoped", scopes=["keys:read", "keys:write", "usage:read"])
    before = snapshot()
    refused(key_client(raw).put(f"/api/v1/api-keys/{other.pk}/restrictions", {"scopes": ["all"]}, format="json"),
            403, "scope_not_allowed")
    assert snapshot() == before


# Leak reports and scan_for_keys recognise old values in their grace period and legacy keys.
def _signed(body: bytes, secret="scanner-secret"):
    import hmac

    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_a_leaked_old_value_ends_its_grace_period_and_names_the_keys_it_made(alice, settings, api):
    import json

    settings.LEAK_REPORT_SECRET = "scanner-secret"
    key, old = make_key(alice, name="Rotating")
    child = key_client(old).post("/api/v1/api-keys", {"name": "Made with it"}, format="json").json()
    _, new = api_key_regenerate(api_key=key, grantor=OPERATOR, grace_period_seconds=3600)
    body = json.dumps([{"token": old, "type": "keyhouse_api_key", "url": "https://paste.example/1"}]).encode()
    response = api.generic("POST", "/api/v1/leaks", body, content_type="application/json",
                           HTTP_KEYHOUSE_SIGNATURE=_signed(body))
    assert response.status_code == 200
    [result] = response.json()
    assert result["label"] == "true_positive" and result["keys_created_with_it"] == [child["id"]]
    assert key_client(old).get("/api/v1/me").status_code == 401
    assert key_client(new).get("/api/v1/me").status_code == 200  # the current value was not leaked
    assert ApiKey.objects.get(pk=key.pk).previous_key_hash is None


def test_scan_for_keys_finds_old_values_and_stops_them(alice, tmp_path):
    key, old = make_key(alice, name="Rotating")
    _, new = api_key_regenerate(api_key=key, grantor=OPERATOR, grace_period_seconds=3600)
    (tmp_path / "config.env").write_text(f"KEY={old}\n")
    out = StringIO()
    call_command("scan_for_keys", str(tmp_path), "--revoke", stdout=out, stderr=StringIO())
    assert f"id {key.pk}" in out.getvalue() and "grace period ended now" in out.getvalue()
    assert old not in out.getvalue()
    assert (key_client(old).get("/api/v1/me").status_code, key_client(new).get("/api/v1/me").status_code) == (401, 200)


def test_a_leaked_legacy_key_is_revoked(alice, settings, api, tmp_path):
    import json

    settings.LEAK_REPORT_SECRET = "scanner-secret"
    legacy_raw = "oldsys-0123456789abcdef"
    import_legacy(tmp_path, legacy_raw)
    assert key_client(legacy_raw).get("/api/v1/me").status_code == 200
    body = json.dumps([{"token": legacy_raw}]).encode()
    response = api.generic("POST", "/api/v1/leaks", body, content_type="application/json",
                           HTTP_KEYHOUSE_SIGNATURE=_signed(body))
    assert response.json()[0]["label"] == "true_positive"
    assert key_client(legacy_raw).get("/api/v1/me").json()["code"] == "revoked_api_key"


# 1. Deletes reach the key cache (the live, multi-worker proof is tests/keys/test_deletes_live.py).
@pytest.mark.parametrize("delete", ["key", "owner", "membership", "company"])
def test_deleting_what_a_key_stands_on_refuses_it_at_once(company, alice, delete,
                                                          django_capture_on_commit_callbacks):
    key, raw = make_key(alice)
    client = key_client(raw)
    assert client.get("/api/v1/me").status_code == 200  # cached now
    with django_capture_on_commit_callbacks(execute=True):
        {"key": key, "owner": alice, "company": company,
         "membership": Membership.objects.get(user=alice, company=company)}[delete].delete()
    assert client.get("/api/v1/me").status_code == 401


def test_use_never_extends_a_cached_snapshot(alice, settings, monkeypatch):
    """A key used all the time is still read again once its entry's lifetime is over."""
    from keys import cache as key_cache

    key, raw = make_key(alice)
    client = key_client(raw)
    assert client.get("/api/v1/me").status_code == 200
    clock = [key_cache.time.monotonic()]
    monkeypatch.setattr(key_cache.time, "monotonic", lambda: clock[0])
    for _ in range(5):  # used every 0.4 s, past a copy's 0.5 s life
        clock[0] += 0.4
        assert client.get("/api/v1/me").status_code == 200
    ApiKey.objects.filter(pk=key.pk).update(name="Renamed")  # as a shell would, past every service
    clock[0] += settings.API_KEY_LOCAL_SECONDS + 0.1
    assert client.get("/api/v1/me").json()["api_key"]["name"] == "Renamed"


def test_hashes_from_an_older_pepper_still_verify_and_are_rehashed(alice, settings):
    key, raw = make_key(alice)
    old_hash = ApiKey.objects.get(pk=key.pk).key_hash
    # Used under the old pepper first: this worker recognises the value by its fingerprint,
    # and a new list of peppers must make it hash the value again, not serve the old copy.
    assert key_client(raw).get("/api/v1/me").status_code == 200
    settings.API_KEY_PEPPERS = ["a-brand-new-pepper", "test-pepper"]
    assert key_client(raw).get("/api/v1/me").status_code == 200
    rehashed = ApiKey.objects.get(pk=key.pk).key_hash
    assert rehashed != old_hash and rehashed.split("$")[1] != old_hash.split("$")[1]
    settings.API_KEY_PEPPERS = ["a-brand-new-pepper"]  # the old pepper retired: the key still works
    assert key_client(raw).get("/api/v1/me").status_code == 200


def test_an_imported_legacy_key_is_rehashed_on_first_use(alice, tmp_path):
    legacy_raw = "oldsys-fedcba9876543210"
    csv = import_legacy(tmp_path, legacy_raw)
    assert ApiKey.objects.get(is_legacy=True).key_hash.startswith("sha256$")
    assert key_client(legacy_raw).get("/api/v1/me").status_code == 200
    assert ApiKey.objects.get(is_legacy=True).key_hash.startswith("hmac-sha256$")
    out = StringIO()
    call_command("import_legacy_keys", str(csv), stdout=out)  # imported again: recognised, not duplicated
    assert out.getvalue().startswith("0 created, 1 skipped") and ApiKey.objects.filter(is_legacy=True).count() == 1
    assert key_client(legacy_raw).get("/api/v1/me").status_code == 200
    # Regenerated away, then the same file imported once more: the old value stays dead.
    key = ApiKey.objects.get(is_legacy=True)
    api_key_regenerate(api_key=key, grantor=OPERATOR)
    out = StringIO()
    call_command("import_legacy_keys", str(csv), stdout=out)
    assert out.getvalue().startswith("0 created, 1 skipped") and ApiKey.objects.count() == 1
    assert key_client(legacy_raw).get("/api/v1/me").status_code == 401


@pytest.mark.parametrize("change", ["membership", "limit", "user, then forget_cached_keys"])
def test_a_bulk_change_is_never_masked_by_a_cached_snapshot(company, admin, change,
                                                             django_capture_on_commit_callbacks):
    key, raw = make_key(admin, name="Admin's")
    limits_set(api_key=key, grantor=OPERATOR, request_limit=1000)
    client = key_client(raw)
    assert client.get("/api/v1/api-keys?scope=company").status_code == 200  # cached now
    assert client.get("/api/v1/demo/echo").status_code == 200  # the limit's first request
    with django_capture_on_commit_callbacks(execute=True):
        if change == "membership":
            Membership.objects.filter(user=admin).update(role="member")
        elif change == "limit":
            KeyLimit.objects.filter(api_key=key).update(request_limit=1)
        else:
            from django.contrib.auth import get_user_model

            get_user_model().objects.filter(pk=admin.pk).update(is_active=False)
            call_command("forget_cached_keys", stdout=StringIO(), stderr=StringIO())
    expected = {"membership": (403, "permission_denied"), "limit": (429, "request_limit_exceeded"),
                "user, then forget_cached_keys": (401, "inactive_owner")}[change]
    # Past a limit of 1 on the product route; the other changes refuse any route.
    response = client.get("/api/v1/demo/echo" if change == "limit" else "/api/v1/api-keys?scope=company")
    assert (response.status_code, response.json()["code"]) == expected


def test_scan_for_keys_finds_legacy_values_by_the_pattern_it_is_given(alice, tmp_path):
    legacy_raw = "oldsys-0a1b2c3d4e5f60718293"
    import_legacy(tmp_path, legacy_raw)
    (tmp_path / "found").mkdir()
    (tmp_path / "found" / "deploy.sh").write_text(f"export OLD_KEY={legacy_raw}\n")
    out = StringIO()
    call_command("scan_for_keys", str(tmp_path / "found"), "--revoke", "--legacy-pattern", r"oldsys-[0-9a-f]{20}",
                 stdout=out, stderr=StringIO())
    assert "active → revoked now" in out.getvalue() and legacy_raw not in out.getvalue()
    assert key_client(legacy_raw).get("/api/v1/me").json()["code"] == "revoked_api_key"


def test_imported_legacy_keys_start_with_the_companys_default_limit(company, alice, tmp_path):
    company_policy_set(company=company, max_key_lifetime_days=None, require_key_expiry=False, unused_key_days=90,
                       default_request_limit=7, default_limit_period="daily")
    import_legacy(tmp_path, "oldsys-limited-0001")
    limit = ApiKey.objects.get(is_legacy=True).limit
    assert (limit.request_limit, limit.reset_period) == (7, "daily")


def test_a_key_regenerated_while_its_old_pepper_value_was_being_read_is_not_cached(alice, settings, monkeypatch):
    """The race of a pepper rotation: a request reads the row under the old pepper, the key is
    regenerated, then the request re-hashes: nothing, and it must not cache what it read."""
    from keys import selectors, verification

    key, raw = make_key(alice)
    settings.API_KEY_PEPPERS = ["a-brand-new-pepper", "test-pepper"]
    read = selectors.api_key_by_hashes

    def read_then_regenerate(hashes):
        found = read(hashes)
        if found[0] is not None and not ApiKey.objects.get(pk=key.pk).previous_key_hash:
            api_key_regenerate(api_key=ApiKey.objects.get(pk=key.pk), grantor=OPERATOR)
        return found

    monkeypatch.setattr(verification, "api_key_by_hashes", read_then_regenerate)
    assert key_client(raw).get("/api/v1/me").status_code == 401
    monkeypatch.setattr(verification, "api_key_by_hashes", read)
    assert key_client(raw).get("/api/v1/me").status_code == 401


def test_keys_made_by_a_limited_key_share_its_counter(alice):
    """Each new key a limited key makes counts on the same counter: making keys never makes quota."""
    parent, raw = make_key(alice, name="Limited")
    limits_set(api_key=parent, grantor=OPERATOR, request_limit=3, reset_period="daily")
    child = key_client(raw).post("/api/v1/api-keys", {"name": "Child"}, format="json").json()
    grandchild = key_client(child["key"]).post("/api/v1/api-keys", {"name": "Grandchild"}, format="json").json()
    for value in (raw, child["key"], grandchild["key"]):
        assert key_client(value).get("/api/v1/demo/echo").status_code == 200
    for value in (raw, child["key"], grandchild["key"]):
        refused = key_client(value).get("/api/v1/demo/echo")
        assert refused.status_code == 429 and refused.json()["code"] == "request_limit_exceeded"
    # Reading limits is not product traffic: the used-up parent still may.
    limits = key_client(raw).get(f"/api/v1/api-keys/{grandchild['id']}/limits").json()["limits"]
    assert (limits["counted_with_key_id"], limits["requests_used"]) == (str(parent.pk), 3)  # refusals cost nothing


# A key loosens no limit a person set on it, even one they disabled for now.
@pytest.mark.parametrize("method", ["put", "delete"])
def test_a_key_cannot_change_the_limit_its_person_set(owner, method):
    key, raw = make_key(owner, name="Person-limited")
    limits_set(api_key=key, grantor=OPERATOR, request_limit=5, enabled=False)
    before = snapshot()
    client = key_client(raw)
    response = getattr(client, method)(f"/api/v1/api-keys/{key.pk}/limits", {"request_limit": 10**6}, format="json")
    refused(response, 403, "limit_not_allowed")
    assert snapshot() == before and not KeyLimit.objects.get(api_key=key).enabled


def test_a_key_may_still_lift_the_limit_it_set_on_itself(owner):
    key, raw = make_key(owner, name="Self-limited")
    client = key_client(raw)
    assert client.put(f"/api/v1/api-keys/{key.pk}/limits", {"request_limit": 0}, format="json").status_code == 200
    assert client.delete(f"/api/v1/api-keys/{key.pk}/limits").status_code == 204
    assert not KeyLimit.objects.filter(api_key=key).exists()


# A key with a budget mints a test key, whose requests are never charged.
def test_a_key_with_a_budget_obtains_no_test_key(owner):
    key, raw = make_key(owner, name="Budgeted")
    limits_set(api_key=key, grantor=OPERATOR, budget_limit_microcents=1000)
    before = snapshot()
    response = key_client(raw).post("/api/v1/api-keys", {"name": "Free ride", "mode": "test"}, format="json")
    refused(response, 403, "limit_not_allowed")
    assert snapshot() == before
    live = key_client(raw).post("/api/v1/api-keys", {"name": "Same budget", "mode": "live"}, format="json")
    assert live.status_code == 201
    assert KeyLimit.objects.get(api_key_id=live.json()["id"]).budget_limit_microcents == 1000
