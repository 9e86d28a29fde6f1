"""Reading a key from a request and verifying it, for DRF views and plain Django views.

Every function that holds a raw key is marked @sensitive_variables, so that error reports,
which list each frame's variables, show the key as stars."""
from functools import wraps

from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication

from config.errors import ValidationFailed, error_body
from keys import crypto
from keys.audit import security_event
from keys.models import AuditAction
from keys.selectors import api_key_by_digest, legacy_keys_exist
from keys.services import api_key_touch

# WSGI names of the two key headers; Authorization: Bearer is the third way.
KEY_HEADERS = {"HTTP_API_KEY": "API-Key", "HTTP_X_API_KEY": "X-API-Key"}
BEARER = "bearer"
QUERY_KEY_NAMES = {"api_key", "apikey", "api-key", "x-api-key", "access_token"}
WWW_AUTHENTICATE = 'ApiKey realm="api", Bearer realm="api"'


class KeyRejected(exceptions.AuthenticationFailed):
    def __init__(self, message: str, code: str, details: dict | None = None, api_key=None):
        super().__init__(message, code)
        self.details = details or {}
        self.api_key = api_key  # a known key refused (revoked, expired) still has its use logged


@sensitive_variables()
def _reject_query_string_keys(query) -> None:
    for name, values in query.lists():
        if name.lower() in QUERY_KEY_NAMES or any(v.startswith(tuple(crypto.PREFIXES.values())) for v in values):
            raise ValidationFailed(
                "API keys go in a header (API-Key, X-API-Key or Authorization: Bearer), never in the URL, "
                "where proxies and logs keep them. Treat this key as exposed and regenerate it.",
                code="api_key_in_query",
                details={"parameter": name[:40]},
            )


@sensitive_variables()
def key_from_request(request) -> str | None:
    """The presented key, None when none was sent; refuses keys in the URL and conflicting headers."""
    _reject_query_string_keys(request.GET)
    meta = request.META
    found = [meta[name].strip() for name in KEY_HEADERS if name in meta]
    scheme, _, credentials = meta.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
    if scheme.lower() == BEARER:
        found.append(credentials.strip())
    if not found:
        return None
    if len(set(found)) > 1:
        raise KeyRejected("Send one API key in one header; this request carries different keys.", "ambiguous_api_key")
    return found[0]


@sensitive_variables()
def authenticate_key(raw: str):
    """The active key for this raw value, or KeyRejected with a code a script can branch on."""
    if not raw:
        raise KeyRejected("The API key header is empty.", "invalid_api_key")
    try:
        crypto.parse_key(raw)
        digest = crypto.hash_key(raw)
    except crypto.MalformedKey as exc:
        # Keys imported from the system we replace have their own format (import_legacy_keys);
        # they are found by a plain SHA-256, as a legacy key or as the previous value in a grace period.
        digest = crypto.legacy_hash(raw) if len(raw) <= 512 and legacy_keys_exist() else None
        key = api_key_by_digest(digest) if digest else None
        if key is None or not (key.is_legacy or key.previous_key_hash == digest):
            raise KeyRejected(f"This is not a valid API key: {exc}.", "invalid_api_key",
                              {"reason": "malformed"}) from None
    else:
        key = api_key_by_digest(digest)
    if key is None:
        raise KeyRejected(
            "This API key does not exist; check that you copied the whole key.", "invalid_api_key", {"reason": "unknown"}
        )
    if key.revoked_at:
        security_event(action=AuditAction.REVOKED_KEY_USED, api_key=key)
        raise KeyRejected(
            f"This API key was revoked on {key.revoked_at:%Y-%m-%d}; create a new key in Settings > Advanced > API-keys.",
            "revoked_api_key",
            {"revoked_at": key.revoked_at.isoformat()},
            api_key=key,
        )
    now = timezone.now()
    if digest != key.key_hash and not (key.previous_expires_at and now < key.previous_expires_at):
        raise KeyRejected(
            "This is the old value of a regenerated key"
            + (f"; it stopped working at {key.previous_expires_at.isoformat()}" if key.previous_expires_at else "")
            + ". Use the new value.", "expired_api_key", {"reason": "regenerated"}, api_key=key)
    if key.expires_at and key.expires_at <= now:
        security_event(action=AuditAction.EXPIRED_KEY_USED, api_key=key)
        raise KeyRejected(
            f"This API key expired on {key.expires_at.isoformat()}; create a new key or ask an admin to extend it.",
            "expired_api_key",
            {"expired_at": key.expires_at.isoformat()},
            api_key=key,
        )
    if not key.owner.is_active or key.owner_role is None:
        raise KeyRejected("The owner of this API key no longer has access to its company.", "inactive_owner",
                          api_key=key)
    api_key_touch(api_key=key, now=now)
    return key


class ApiKeyAuthentication(BaseAuthentication):
    """`request.user` is the key's owner and `request.auth` the ApiKey. Requests with no key
    fall through to the next class (the browser session)."""

    @sensitive_variables()
    def authenticate(self, request):
        raw = key_from_request(request._request)
        if raw is None:
            return None
        try:
            key = authenticate_key(raw)
        except KeyRejected as exc:
            request._request.api_key = exc.api_key
            raise
        # On the Django request too, where the usage middleware looks for it.
        request._request.api_key = key
        return key.owner, key

    def authenticate_header(self, request):
        return WWW_AUTHENTICATE


def api_key_required(view):
    """The same checks for a plain Django view: sets request.user and request.api_key."""

    @wraps(view)
    @sensitive_variables()
    def wrapped(request, *args, **kwargs):
        try:
            raw = key_from_request(request)
            if raw is None:
                raise KeyRejected("Send your API key in the API-Key, X-API-Key or Authorization: Bearer header.", "missing_api_key")
            key = authenticate_key(raw)
        except KeyRejected as exc:
            request.api_key = exc.api_key
            response = JsonResponse(error_body(exc.get_codes(), str(exc.detail), exc.details), status=401)
            response["WWW-Authenticate"] = WWW_AUTHENTICATE
            return response
        except ValidationFailed as exc:
            return JsonResponse(error_body(exc.code, exc.message, exc.details), status=exc.status)
        request.user, request.api_key = key.owner, key
        return view(request, *args, **kwargs)

    return wrapped
