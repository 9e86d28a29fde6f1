"""Per-key restrictions by IP address, referrer URL and API area (scope), checked on every
keyed request after authentication and before limits.

A view names the API area it belongs to with `api_scope = "keys"`; reads need `<area>:read`,
writes `<area>:write`. A view that names `required_scope` needs that for reads (None: any key);
its writes never settle for a read scope (see needed_scope).
A view that names neither needs the `all` scope, so a new endpoint is closed to scoped keys
until someone decides where it belongs.
"""
import ipaddress
import re

from django.core.exceptions import ValidationError
from rest_framework.permissions import BasePermission

from audit.models import AuditAction
from audit.services import security_event
from core.errors import Forbidden, invalid
from core.network import client_ip, ip_allowed, request_host
from core.outcomes import OUTCOMES, KeyStatus
from keys.models import RESTRICTION_FIELDS

ALL_SCOPES = "all"
SCOPES = {
    ALL_SCOPES: "Every API area (the default for new keys).",
    "keys:read": "List and read keys, their limits and restrictions.",
    "keys:write": "Create, rename, regenerate and revoke keys; change limits and restrictions.",
    "usage:read": "Read usage analytics.",
    "audit:read": "Read audit events.",
    "demo": "The example priced endpoints under /api/v1/demo/.",
}
SCOPE_NAMES = list(SCOPES)  # the one Scope enum of the OpenAPI schema
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# The product's own API areas, what keys exist for, as opposed to managing keys, usage and the
# audit trail: the old value of a regenerated key may still call these during its grace period.
PRODUCT_SCOPES = frozenset({"demo"})
MAX_ENTRIES = 100
HOST_PATTERN = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def _entries(name: str, values) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise invalid(name, "Give a list of strings.", code="invalid_restriction")
    if len(values) > MAX_ENTRIES:
        raise invalid(name, f"Give at most {MAX_ENTRIES} entries.", code="invalid_restriction")
    return [v.strip() for v in values if v.strip()]


def _bad(entry: str, why: str) -> ValidationError:
    return ValidationError(f"{entry[:100]!r} {why}", code="invalid_restriction")


def _cleaned(name: str, cleaned: list[str], refused: list[ValidationError]) -> list[str]:
    """The entries, unique in their order, or every refused one at once."""
    if refused:
        raise ValidationError({name: refused})
    return sorted(set(cleaned), key=cleaned.index)


def clean_ips(values) -> list[str]:
    """IPv4/IPv6 addresses and CIDR ranges, normalised ('10.0.0.7/24' is refused: host bits set;
    a single address stays written as one, without /32 or /128)."""
    cleaned, refused = [], []
    for entry in _entries("allowed_ips", values):
        try:
            network = ipaddress.ip_network(entry, strict=True)
        except ValueError as error:
            refused.append(_bad(entry, f"is not an IP address or CIDR range ({error})"))
            continue
        single = network.prefixlen == network.max_prefixlen
        cleaned.append(str(network.network_address) if single else str(network))
    return _cleaned("allowed_ips", cleaned, refused)


def clean_referrers(values) -> list[str]:
    """Host names, or `*.example.com` for every subdomain of example.com."""
    cleaned, refused = [], []
    for entry in _entries("allowed_referrers", values):
        host = entry.lower().rstrip(".")
        if "://" in host or "/" in host or len(host) > 253 or not HOST_PATTERN.match(host):
            refused.append(_bad(entry, "is not a host name or a *.domain pattern (no scheme or path)"))
        else:
            cleaned.append(host)
    return _cleaned("allowed_referrers", cleaned, refused)


def clean_scopes(values) -> list[str]:
    scopes = _entries("scopes", values)
    if not scopes:
        raise invalid("scopes", "[] names no scope: name at least one, or 'all' for every area.",
                      code="invalid_restriction")
    refused = [_bad(scope, f"is not a scope; choose from {', '.join(SCOPES)}") for scope in scopes
               if scope not in SCOPES]
    _cleaned("scopes", scopes, refused)
    return [ALL_SCOPES] if ALL_SCOPES in scopes else sorted(set(scopes))


def restrictions_clean(**wanted) -> dict:
    """Each given restriction (allowed_ips, allowed_referrers, scopes) cleaned; every bad entry
    of every field refused at once."""
    cleaners = dict(zip(RESTRICTION_FIELDS, (clean_ips, clean_referrers, clean_scopes), strict=True))
    cleaned, refused = {}, {}
    for field, values in wanted.items():
        try:
            cleaned[field] = cleaners[field](values)
        except ValidationError as error:
            refused.update(error.error_dict)
    if refused:
        raise ValidationError(refused)
    return cleaned


def scopes_check_grant(acting_key, scopes) -> None:
    """A key can never hand out more than it has: a scoped key may only create keys, or set
    scopes, within its own scopes."""
    if acting_key is None or ALL_SCOPES in acting_key.scopes:
        return
    extra = sorted(set(clean_scopes(scopes)) - set(acting_key.scopes))
    if extra:
        raise Forbidden(
            f"The key making this request lacks {', '.join(extra)}, so it cannot grant it; use a key with the "
            "'all' scope or sign in.", code="scope_not_allowed", extra={"scopes": acting_key.scopes},
        )


def _host_allowed(host: str, allowed: list[str]) -> bool:
    return any(host.endswith(pattern[1:]) if pattern.startswith("*.") else host == pattern for pattern in allowed)


def needed_scope(view, method: str) -> str | None:
    """The scope a request needs. A read scope never covers a write, whatever the view declares:
    an unsafe method turns `<area>:read` into `<area>:write`, and "any key" (None) into `all`,
    since "any key may ask who it is" was said of reading, not of writes added to the view later."""
    safe = method in SAFE_METHODS
    if hasattr(view, "required_scope"):
        scope = view.required_scope
        if safe:
            return scope
        if scope is None:
            return ALL_SCOPES
        return scope.removesuffix(":read") + ":write" if scope.endswith(":read") else scope
    area = getattr(view, "api_scope", None)
    if area is None:
        return ALL_SCOPES
    return f"{area}:{'read' if safe else 'write'}"


def _refusal(grant, request, scope: str | None, method: str):
    """(status, details, message context) of the first restriction this request breaks, or None."""
    if grant.allowed_ips and not ip_allowed(ip := client_ip(request), grant.allowed_ips):
        allowed = list(grant.allowed_ips)
        return KeyStatus.IP_REFUSED, {"client_ip": ip, "allowed_ips": allowed}, {"allowed": ", ".join(allowed),
                                                                                  "client_ip": ip}
    if grant.allowed_referrers and not _host_allowed(host := request_host(request), grant.allowed_referrers):
        allowed = list(grant.allowed_referrers)
        return (KeyStatus.REFERRER_REFUSED, {"referrer": host, "allowed_referrers": allowed},
                {"allowed": ", ".join(allowed), "referrer": host or "missing"})
    if scope and ALL_SCOPES not in grant.scopes and scope not in grant.scopes:
        return (KeyStatus.SCOPE_REFUSED, {"required_scope": scope, "scopes": list(grant.scopes)},
                {"required_scope": scope, "has": ", ".join(grant.scopes)})
    if grant.presented_previous and method not in SAFE_METHODS and scope not in PRODUCT_SCOPES:
        until = grant.previous_expires_at.isoformat()
        return KeyStatus.GRACE_VALUE_REFUSED, {"works_until": until}, {"until": until}
    return None


def restrictions_check(verification, request, scope: str | None, method: str):
    """The verification, refused (403) if the key's restrictions do not allow this request;
    the refusal says what was expected."""
    verification = verification.scoped(scope)
    refusal = _refusal(verification.grant, request, scope, method)
    if refusal is None:
        return verification
    status, details, context = refusal
    security_event(action=AuditAction.KEY_REFUSED_BY_RESTRICTION, api_key=verification.grant,
                   details={"code": OUTCOMES[status].code, **details})
    return verification.refused(status, details=details, **context)


class KeyRestrictionsPermission(BasePermission):
    """Runs after authentication and before the limit check (DRF throttles)."""

    def has_permission(self, request, view):
        verification = getattr(request._request, "key_verification", None)
        if verification is not None and verification.is_valid and request.auth is verification.grant:
            method = request._request.method  # not through DRF's Request, whose __getattr__ costs a µs a time
            checked = restrictions_check(verification, request._request, needed_scope(view, method), method)
            request._request.key_verification = checked
            if not checked.is_valid:
                raise checked.refusal()
        return True
