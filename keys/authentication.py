"""Reading a key from a request and verifying it (keys.verification), for DRF views and plain
Django views. The request keeps one value, its Verification, as `key_verification`: the
restrictions, the limit check and the request log read that and nothing else.

Every function that holds a raw key is marked @sensitive_variables, so that error reports,
which list each frame's variables, show the key as stars."""
from functools import wraps

from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from rest_framework.authentication import BaseAuthentication

from audit.models import AuditAction
from audit.services import security_event
from core import crypto
from core.errors import application_error_response
from core.outcomes import WWW_AUTHENTICATE, KeyStatus
from keys.verification import Verification, verify

# WSGI names of the two key headers; Authorization: Bearer is the third way.
KEY_HEADERS = {"HTTP_API_KEY": "API-Key", "HTTP_X_API_KEY": "X-API-Key"}
BEARER = "bearer"
QUERY_KEY_NAMES = {"api_key", "apikey", "api-key", "x-api-key", "access_token"}
# Refusals of a known key that an admin should hear of (audit trail, once a minute per key).
SECURITY_EVENTS = {KeyStatus.REVOKED: AuditAction.REVOKED_KEY_USED, KeyStatus.EXPIRED: AuditAction.EXPIRED_KEY_USED}


@sensitive_variables()
def _key_in_query(query) -> str | None:
    for name, values in query.lists():
        if name.lower() in QUERY_KEY_NAMES or any(crypto.KEY_PATTERN.search(v) for v in values):
            return name
    return None


@sensitive_variables()
def verify_request(request) -> Verification:
    """Verify the key a request presents, once; the result is kept on the request."""
    if (done := getattr(request, "key_verification", None)) is not None:
        return done
    verification = _verify_presented(request)
    request.key_verification = verification
    if verification.status in SECURITY_EVENTS:
        security_event(action=SECURITY_EVENTS[verification.status], api_key=verification.grant)
    return verification


@sensitive_variables()
def _verify_presented(request) -> Verification:
    if (name := _key_in_query(request.GET)) is not None:
        return Verification(KeyStatus.IN_QUERY, details={"parameter": name[:40]})
    meta = request.META
    found = [meta[name].strip() for name in KEY_HEADERS if name in meta]
    scheme, _, credentials = meta.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
    if scheme.lower() == BEARER:
        found.append(credentials.strip())
    if len(set(found)) > 1:
        return Verification(KeyStatus.AMBIGUOUS)
    return verify(found[0] if found else None, timezone.now())


class ApiKeyAuthentication(BaseAuthentication):
    """`request.user` is the key's owner and `request.auth` its KeyGrant. Requests with no key
    fall through to the next class (the browser session)."""

    def authenticate(self, request):
        verification = verify_request(request._request)
        if verification.status == KeyStatus.MISSING:
            return None
        if not verification.is_valid:
            raise verification.refusal()
        return verification.grant.owner(), verification.grant

    def authenticate_header(self, request):
        return WWW_AUTHENTICATE


def api_key_required(view):
    """The same checks for a plain Django view: sets request.user to the key's owner; the
    KeyGrant is request.key_verification.grant."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        verification = verify_request(request)
        if not verification.is_valid:
            refusal = verification.refusal()
            return application_error_response(request, refusal)
        request.user = verification.grant.owner()
        return view(request, *args, **kwargs)

    return wrapped
