from datetime import timedelta

from django.core.cache import cache
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from accounts.access import Actor, key_check_manage
from accounts.models import Membership
from config.errors import NotFound
from keys import cache as key_cache
from keys.models import LEGACY_PREFIX, ApiKey, AuditEvent

STATUSES = ("active", "revoked", "expired", "unused")


def api_key_by_digest(digest: str) -> ApiKey | None:
    """From the key cache, or one indexed lookup (the current or, during a grace period, the
    previous hash) that also brings the owner, the company, the owner's role and the key's
    limits, so the request needs no other query."""
    key, lookup = key_cache.cached_key(digest)
    if key is None:
        role = Membership.objects.filter(user=OuterRef("owner"), company=OuterRef("company")).values("role")[:1]
        key = (
            ApiKey.objects.select_related("owner", "company", "limit")
            .annotate(owner_role=Subquery(role))
            .filter(Q(key_hash=digest) | Q(previous_key_hash=digest))
            .first()
        )
        if key is not None:
            key_cache.remember(key, digest, lookup)
    return key


LEGACY_FLAG = "keyhouse:legacy-keys-exist"
LEGACY_FLAG_SECONDS = 60


def legacy_keys_exist() -> bool:
    """Whether to look up malformed keys as legacy ones at all: legacy keys, or regenerated ones
    whose legacy value is in its grace period. Re-read at most once a minute."""
    exists = cache.get(LEGACY_FLAG)
    if exists is None:
        in_grace = Q(previous_prefix=LEGACY_PREFIX, previous_expires_at__gt=timezone.now())
        exists = ApiKey.objects.filter(Q(is_legacy=True) | in_grace).exists()
        cache.set(LEGACY_FLAG, exists, LEGACY_FLAG_SECONDS)
    return exists


def api_key_get(actor: Actor, key_id) -> ApiKey:
    """A key the actor may manage, or NotFound / PermissionDenied by the one access rule."""
    key = ApiKey.objects.select_related("owner").filter(pk=key_id).first()
    if key is None:
        raise NotFound("No API key with this id in your company.", code="api_key_not_found")
    key_check_manage(actor, key)
    return key


def api_keys_of_company(actor: Actor, *, owner_id=None, status=None, mode=None) -> QuerySet:
    keys = ApiKey.objects.select_related("owner").filter(company=actor.company)
    if owner_id is not None:
        keys = keys.filter(owner_id=owner_id)
    if status == "active":
        keys = keys.active()
    elif status == "revoked":
        keys = keys.revoked()
    elif status == "expired":
        keys = keys.expired()
    elif status == "unused":
        # Candidates to revoke: active, and not used for the company's unused_key_days.
        cutoff = timezone.now() - timedelta(days=actor.company.unused_key_days)
        keys = keys.active().filter(Q(last_used_at__lt=cutoff) | Q(last_used_at__isnull=True, created_at__lt=cutoff))
    if mode:
        keys = keys.filter(mode=mode)
    return keys.order_by("-created_at", "-pk")


def audit_events_visible_to(actor: Actor, *, api_key_id=None, actor_user_id=None, action=None, since=None,
                            until=None) -> QuerySet:
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
