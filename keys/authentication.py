"""Reading a key from a request and verifying it (keys.verification), for DRF views and plain
Django views. The request keeps one value, its Verification, as `key_verification`: the
restrictions, the limit check and the request log read that and nothing else.

Every function that holds a raw key is marked @sensitive_variables, so that error reports,
which list each frame's variables, show the key as stars."""
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, QueryDict
from django.views.decorators.debug import sensitive_variables
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from audit.models import AuditAction
from audit.services import security_event
from core import crypto
from core.errors import application_error_response
from core.outcomes import WWW_AUTHENTICATE, KeyStatus
from keys.verification import KeyGrant, Verification, verify

# WSGI names of the two key headers; Authorization: Bearer is the third way.
KEY_HEADERS = {"HTTP_API_KEY": "API-Key", "HTTP_X_API_KEY": "X-API-Key"}
BEARER = "bearer"
QUERY_KEY_NAMES = {"api_key", "apikey", "api-key", "x-api-key", "access_token"}
# Refusals of a known key that an admin should hear of (audit trail, once a minute per key).
SECURITY_EVENTS = {KeyStatus.REVOKED: AuditAction.REVOKED_KEY_USED, KeyStatus.EXPIRED: AuditAction.EXPIRED_KEY_USED}


@sensitive_variables()
def _key_in_query(query: QueryDict) -> str | None:
    """The name of a query parameter that carries a key (its value, or its name: `?sk_live_…`),
    masked, since the refusal names it."""
    for name, values in query.lists():
        if (name.lower() in QUERY_KEY_NAMES or crypto.KEY_PATTERN.search(name)
                or any(crypto.KEY_PATTERN.search(v) for v in values)):
            return crypto.mask_keys(str(name))
    return None


@sensitive_variables()
def verify_request(request: HttpRequest) -> Verification:
    """Verify the key a request presents, once; the result is kept on the request."""
    done: Verification | None = getattr(request, "key_verification", None)
    if done is not None:
        return done
    verification = _verify_presented(request)
    request.key_verification = verification  # type: ignore[attr-defined]
    if verification.status in SECURITY_EVENTS:
        security_event(action=SECURITY_EVENTS[verification.status], api_key=verification.grant)
    return verification


@sensitive_variables()
def _verify_presented(request: HttpRequest) -> Verification:
    # Parsing the query string costs more than the rest of this function: only when there is one.
    if request.META.get("QUERY_STRING") and (name := _key_in_query(request.GET)) is not None:
        return Verification(KeyStatus.IN_QUERY, details={"parameter": name[:40]})
    meta = request.META
    found = [meta[name].strip() for name in KEY_HEADERS if name in meta]
    scheme, _, credentials = meta.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
    if scheme.lower() == BEARER:
        found.append(credentials.strip())
    if len(set(found)) > 1:
        return Verification(KeyStatus.AMBIGUOUS)
    return verify(found[0] if found else None)


class ApiKeyAuthentication(BaseAuthentication):
    """`request.user` is the key's owner and `request.auth` its KeyGrant. Requests with no key
    fall through to the next class (the browser session)."""

    def authenticate(self, request: Request) -> tuple[User, KeyGrant] | None:
        verification = verify_request(request._request)
        if verification.status == KeyStatus.MISSING:
            return None
        if not verification.is_valid or verification.grant is None:
            raise verification.refusal()
        return verification.grant.owner(), verification.grant

    def authenticate_header(self, request: Request) -> str:
        return WWW_AUTHENTICATE


def api_key_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The same checks for a plain Django view: sets request.user to the key's owner; the
    KeyGrant is request.key_verification.grant."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        verification = verify_request(request)
        if not verification.is_valid or verification.grant is None:
            refusal = verification.refusal()
            return application_error_response(request, refusal)
        request.user = verification.grant.owner()
        return view(request, *args, **kwargs)

    return wrapped
