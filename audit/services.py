"""Recording audit events with their origin: the surface, IP and user agent of the request
being served (or "command" outside a request), and who acted.

The middleware keeps the current request in a context variable so that services, which never
take request objects, can still say where a change came from.
"""
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from django.contrib.auth.models import User
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

from audit.models import AuditEvent, Surface
from core.network import client_ip

_current_request: ContextVar[HttpRequest | None] = ContextVar("audit_request", default=None)
SURFACE_PREFIXES = (("/api/", Surface.API), ("/admin/", Surface.ADMIN))
# A revoked key hammering the API should not write an event per request.
SECURITY_EVENT_INTERVAL = 60


class AuditContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            _current_request.reset(token)


def _origin() -> dict[str, Any]:
    request = _current_request.get()
    if request is None:
        return {"surface": Surface.COMMAND, "ip": None, "user_agent": "", "user": None, "key": None}
    user = getattr(request, "user", None)
    return {
        "surface": next((s for prefix, s in SURFACE_PREFIXES if request.path.startswith(prefix)), Surface.DASHBOARD),
        "ip": client_ip(request),
        "user_agent": request.headers.get("User-Agent", "")[:255],
        "user": user if user is not None and user.is_authenticated else None,
        "key": getattr(getattr(request, "key_verification", None), "grant", None),
    }


def audit_record(*, action: str, company: Any, api_key: Any = None, target_user: User | None = None,
                 changes: dict[str, Any] | None = None, actor_user: User | None = None,
                 label: str | None = None) -> AuditEvent:
    """One event. `actor_user` defaults to the signed-in person, or the owner of the key in use.
    `company` is a Company or its id; `api_key` an ApiKey or a KeyGrant (keys.verification)."""
    origin = _origin()
    actor_user = actor_user or origin["user"]
    key = origin["key"]
    if label is None:
        label = (
            actor_user.get_username() if actor_user else ("operator" if origin["surface"] == Surface.COMMAND else "")
        )
    return AuditEvent.objects.create(
        company_id=getattr(company, "pk", company),
        action=action,
        surface=origin["surface"],
        actor_user=actor_user,
        actor_key_id=key.pk if key is not None and key.owner_id == getattr(actor_user, "pk", None) else None,
        actor_label=label,
        api_key_id=api_key.pk if api_key else None,
        api_key_label=f"{api_key.name} ({api_key.prefix}…)"[:120] if api_key else "",
        target_user=target_user,
        ip=origin["ip"],
        user_agent=origin["user_agent"],
        changes=changes or {},
    )


def security_event(*, action: str, api_key: Any, details: dict[str, Any] | None = None) -> None:
    """A refused use of a known key (an ApiKey or a KeyGrant), recorded at most once a minute
    per key and action. The person presenting it is unknown, so no user is named as the actor."""
    try:
        first_this_minute = cache.add(f"keyhouse:audit:{action}:{api_key.pk}", 1, SECURITY_EVENT_INTERVAL)
    except Exception:  # no cache, no throttling: record every one rather than none
        first_this_minute = True
    if first_this_minute:
        audit_record(action=action, company=api_key.company_id, api_key=api_key, changes=details,
                     label="holder of the key")
