"""Restrictions by IP, referrer and scope: allowed and refused requests, and bad entries."""
import pytest

from accounts.access import OPERATOR
from audit.models import AuditEvent
from keys.limit_services import limits_set
from keys.models import ApiKey
from keys.services import api_key_set_restrictions
from tests.clients import key_client, problem, session_client
from tests.factories import make_key
from usage.models import LimitCounter

pytestmark = pytest.mark.django_db


def me(raw, **headers):
    return key_client(raw).get("/api/v1/me", **headers)


@pytest.mark.parametrize("allowed, ip, ok", [
    (["203.0.113.7"], "203.0.113.7", True),
    (["203.0.113.7"], "203.0.113.8", False),
    (["203.0.113.0/24"], "203.0.113.0", True),
    (["203.0.113.0/24"], "203.0.113.255", True),
    (["203.0.113.0/24"], "203.0.114.0", False),
    (["203.0.113.128/25"], "203.0.113.127", False),
    (["2001:db8::/32"], "2001:db8:ffff::1", True),
    (["2001:db8::/32"], "2001:db9::1", False),
    (["2001:db8::1"], "2001:db8::1", True),
    (["10.0.0.0/8", "2001:db8::/32"], "10.255.255.255", True),
    (["203.0.113.7"], "::ffff:203.0.113.7", True),  # IPv4 seen through an IPv6 socket
])
def test_ip_restrictions(allowed, ip, ok, alice_key):
    key, raw = alice_key
    api_key_set_restrictions(api_key=key, grantor=OPERATOR, allowed_ips=allowed)
    response = me(raw, REMOTE_ADDR=ip)
    assert response.status_code == (200 if ok else 403)
    if not ok:
        error = problem(response)
        assert error["code"] == "ip_not_allowed"
        assert allowed[0] in error["detail"] and error["client_ip"] == ip


def test_forged_x_forwarded_for_never_widens_access(alice_key, settings):
    key, raw = alice_key
    api_key_set_restrictions(api_key=key, grantor=OPERATOR, allowed_ips=["203.0.113.7"])
    assert me(raw, REMOTE_ADDR="198.51.100.1", HTTP_X_FORWARDED_FOR="203.0.113.7").status_code == 403
    settings.TRUSTED_PROXY_COUNT = 1
    # Behind one proxy, only the entry that proxy appended counts; the client's own is ignored.
    assert me(raw, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.7, 198.51.100.1").status_code == 403
    assert me(raw, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.7").status_code == 200


@pytest.mark.parametrize("forwarded, seen", [
    ("203.0.113.7:51234", "203.0.113.7"),  # a port, as some proxies write it
    ("[2001:db8::7]:443", "2001:db8::7"),
    ("fe80::7%eth0", "fe80::7"),  # a zone id
    ("::ffff:203.0.113.7", "203.0.113.7"),
    ("notanip", "10.0.0.2"),  # not an address: the peer we really talk to
    ("203.0.113.7.1", "10.0.0.2"),
    ("unknown, ", "10.0.0.2"),
])
def test_the_forwarded_address_is_parsed_and_a_bad_one_falls_back_to_the_peer(forwarded, seen, alice_key, settings):
    """Whatever a client writes there, the log, the audit trail and allow-lists get an address
    (a bad value once stopped the request log on PostgreSQL's inet column)."""
    from usage.models import RequestLog

    key, raw = alice_key
    settings.TRUSTED_PROXY_COUNT = 1
    api_key_set_restrictions(api_key=key, grantor=OPERATOR, allowed_ips=["203.0.113.0/24", "2001:db8::/32"])
    response = me(raw, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded)
    allowed = seen.startswith(("203.0.113.", "2001:db8:"))
    assert response.status_code == (200 if allowed else 403)
    if not allowed:
        assert response.json()["client_ip"] == seen
    assert RequestLog.objects.get().client_ip == seen
    assert AuditEvent.objects.filter(ip=seen).exists() or allowed


@pytest.mark.parametrize("allowed, header, ok", [
    (["app.example.com"], {"HTTP_ORIGIN": "https://app.example.com"}, True),
    (["app.example.com"], {"HTTP_ORIGIN": "https://evil.example.com"}, False),
    (["*.example.com"], {"HTTP_REFERER": "https://a.b.example.com/page?x=1"}, True),
    (["*.example.com"], {"HTTP_ORIGIN": "https://example.com"}, False),  # the wildcard means subdomains
    (["*.example.com"], {"HTTP_ORIGIN": "https://example.com.evil.net"}, False),
    (["*.example.com"], {"HTTP_ORIGIN": "https://notexample.com"}, False),
    (["app.example.com"], {}, False),
    (["APP.example.com"], {"HTTP_ORIGIN": "https://app.EXAMPLE.com:8443"}, True),
])
def test_referrer_restrictions(allowed, header, ok, alice_key):
    key, raw = alice_key
    api_key_set_restrictions(api_key=key, grantor=OPERATOR, allowed_referrers=allowed)
    response = me(raw, **header)
    assert response.status_code == (200 if ok else 403)
    if not ok:
        assert response.json()["code"] == "referrer_not_allowed"


@pytest.mark.parametrize("scopes, method, path, ok", [
    (["keys:read"], "get", "/api/v1/api-keys", True),
    (["keys:read"], "post", "/api/v1/api-keys", False),
    (["keys:write"], "post", "/api/v1/api-keys", True),
    (["usage:read"], "get", "/api/v1/api-keys", False),
    (["usage:read"], "get", "/api/v1/api-keys/{key}/usage", True),
    (["keys:read"], "get", "/api/v1/api-keys/{key}/usage", False),
    (["audit:read"], "get", "/api/v1/audit-events", True),
    (["demo"], "get", "/api/v1/demo/echo", True),
    (["keys:read"], "get", "/api/v1/demo/echo", False),
    (["demo"], "get", "/api/v1/me", True),  # any key may ask who it is
    (["keys:read"], "put", "/api/v1/api-keys/{key}/restrictions", False),
    (["all"], "delete", "/api/v1/api-keys/{key}", True),
])
def test_scopes_per_route(scopes, method, path, ok, alice):
    key, raw = make_key(alice, scopes=scopes)
    body = {"name": "child", "scopes": scopes} if method == "post" else {}
    response = getattr(key_client(raw), method)(path.format(key=key.pk), body, format="json")
    if ok:
        assert response.status_code < 400, response.content
    else:
        assert response.status_code == 403
        assert response.json()["code"] == "scope_not_allowed"
        assert response.json()["scopes"] == scopes


def test_a_scoped_key_cannot_grant_more_than_it_has(alice):
    key, raw = make_key(alice, scopes=["keys:read", "keys:write"])
    client = key_client(raw)
    child = client.post("/api/v1/api-keys", {"name": "child"}, format="json")
    assert child.status_code == 201 and child.json()["scopes"] == ["keys:read", "keys:write"]
    wider = client.post("/api/v1/api-keys", {"name": "wider", "scopes": ["all"]}, format="json")
    assert wider.status_code == 403 and not ApiKey.objects.filter(name="wider").exists()
    escalate = client.put(f"/api/v1/api-keys/{key.pk}/restrictions", {"scopes": ["all"]}, format="json")
    assert escalate.status_code == 403
    assert ApiKey.objects.get(pk=key.pk).scopes == ["keys:read", "keys:write"]


def test_restrictions_api_round_trip_and_audit(alice, alice_key):
    key, raw = alice_key
    url = f"/api/v1/api-keys/{key.pk}/restrictions"
    client = session_client(alice)
    body = client.put(url, {"allowed_ips": ["10.0.0.0/8", " 2001:db8::/32 "], "allowed_referrers": ["*.Example.com"],
                            "scopes": ["usage:read", "keys:read"]}, format="json").json()
    assert (body["allowed_ips"], body["allowed_referrers"], body["scopes"]) == (
        ["10.0.0.0/8", "2001:db8::/32"], ["*.example.com"], ["keys:read", "usage:read"])
    assert "keys:write" in body["available_scopes"]
    assert client.get(url).json()["scopes"] == ["keys:read", "usage:read"]
    event = AuditEvent.objects.get(action="restrictions.changed")
    assert event.changes["before"]["scopes"] == ["all"] and event.actor_label == "alice"


@pytest.mark.parametrize("payload, offending", [
    ({"allowed_ips": ["10.0.0.300"]}, "10.0.0.300"),
    ({"allowed_ips": ["10.0.0.7/24"]}, "10.0.0.7/24"),
    ({"allowed_ips": ["10.0.0.0/33"]}, "10.0.0.0/33"),
    ({"allowed_ips": ["2001:db8::/129"]}, "2001:db8::/129"),
    ({"allowed_referrers": ["https://example.com"]}, "https://example.com"),
    ({"allowed_referrers": ["example.com/path"]}, "example.com/path"),
    ({"allowed_referrers": ["*.*.example.com"]}, "*.*.example.com"),
    ({"scopes": ["keys:admin"]}, "keys:admin"),
    ({"scopes": []}, "[]"),
    ({"allowed_ips": "10.0.0.1"}, "allowed_ips"),
    ({"allowed_ips": ["10.0.0.1"] * 101}, "allowed_ips"),
])
def test_invalid_restrictions_are_400_naming_the_entry(payload, offending, alice, alice_key):
    key, _ = alice_key
    response = session_client(alice).put(f"/api/v1/api-keys/{key.pk}/restrictions", payload, format="json")
    assert response.status_code == 400
    error = problem(response)
    assert error["code"] in ("invalid_restriction", "validation_error")
    assert offending in str(error)
    key.refresh_from_db()
    assert (key.allowed_ips, key.allowed_referrers, key.scopes) == ([], [], ["all"])


def test_every_bad_entry_is_named_at_once_and_nothing_is_saved(alice, alice_key):
    key, _ = alice_key
    payload = {"allowed_ips": ["1.2.3.4", "bad", "10.0.0.0/99", "worse"],
               "allowed_referrers": ["ok.example.com", "a/b"], "scopes": ["demo", "nope"]}
    error = problem(session_client(alice).put(f"/api/v1/api-keys/{key.pk}/restrictions", payload, format="json"))
    assert error["code"] == "invalid_restriction"
    named = [(entry["pointer"], entry["detail"].split()[0]) for entry in error["errors"]]
    assert named == [("/allowed_ips", "'bad'"), ("/allowed_ips", "'10.0.0.0/99'"), ("/allowed_ips", "'worse'"),
                     ("/allowed_referrers", "'a/b'"), ("/scopes", "'nope'")]
    key.refresh_from_db()
    assert (key.allowed_ips, key.allowed_referrers, key.scopes) == ([], [], ["all"])


def test_refusal_is_a_security_event_and_uses_no_quota(alice_key):
    key, raw = alice_key
    limits_set(api_key=key, grantor=OPERATOR, request_limit=5)
    api_key_set_restrictions(api_key=key, grantor=OPERATOR, allowed_ips=["203.0.113.7"])
    assert me(raw, REMOTE_ADDR="198.51.100.1").status_code == 403
    assert not LimitCounter.objects.filter(requests__gt=0).exists()
    event = AuditEvent.objects.get(action="security.restriction_refused")
    assert event.changes["code"] == "ip_not_allowed" and event.api_key_id == key.pk


def test_restrictions_apply_at_once_to_a_cached_key(alice, alice_key):
    key, raw = alice_key
    assert me(raw).status_code == 200  # cached now
    session_client(alice).put(f"/api/v1/api-keys/{key.pk}/restrictions", {"scopes": ["keys:read"]}, format="json")
    assert key_client(raw).get("/api/v1/demo/echo").status_code == 403


def test_a_long_forwarded_value_is_parsed_but_not_kept():
    """Addresses are memoised per worker; a hostile 8 KB header is read, refused, and not kept."""
    from core import network

    before = network._ip_parse_kept.cache_info().currsize
    assert network.ip_parse("203.0.113.7:443") == "203.0.113.7"
    assert network.ip_parse(" " * 50 + "203.0.113.8" + " " * 50) == "203.0.113.8"
    assert network.ip_parse("x" * 8000) is None
    assert network._ip_parse_kept.cache_info().currsize <= before + 1
