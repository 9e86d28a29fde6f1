from django.db.models import OuterRef, QuerySet, Subquery
from django.views.decorators.debug import sensitive_variables

from accounts.access import Actor, key_check_manage
from accounts.models import Membership
from config.errors import NotFound
from keys import crypto
from keys.models import ApiKey

STATUSES = ("active", "revoked", "expired")


@sensitive_variables()
def api_key_by_raw(raw: str) -> ApiKey | None:
    """One indexed lookup by hash; the owner's role comes along so no second query is needed."""
    role = Membership.objects.filter(user=OuterRef("owner"), company=OuterRef("company")).values("role")[:1]
    return (
        ApiKey.objects.select_related("owner", "company")
        .annotate(owner_role=Subquery(role))
        .filter(key_hash=crypto.hash_key(raw))
        .first()
    )


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
    if mode:
        keys = keys.filter(mode=mode)
    return keys.order_by("-created_at", "-pk")
