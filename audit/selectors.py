import uuid
from datetime import datetime

from django.db.models import QuerySet

from accounts.access import Actor
from audit.models import AuditEvent


def audit_events_visible_to(actor: Actor, *, api_key_id: uuid.UUID | None = None, actor_user_id: int | None = None,
                            action: str | None = None, since: datetime | None = None,
                            until: datetime | None = None) -> QuerySet[AuditEvent]:
    """Admins and owners see their company's events; members the events of their own keys."""
    events = AuditEvent.objects.filter(company=actor.company)
    if not actor.manages_company_keys:
        events = events.filter(api_key__owner=actor.user)
    if api_key_id:
        events = events.filter(api_key_id=api_key_id)
    if actor_user_id:
        events = events.filter(actor_user_id=actor_user_id)
    if action:
        events = events.filter(action=action)
    if since:
        events = events.filter(created_at__gte=since)
    if until:
        events = events.filter(created_at__lt=until)
    return events.order_by("-created_at", "-id")
