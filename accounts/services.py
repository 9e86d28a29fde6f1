from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import Company, Membership, Role
from config.errors import Conflict, ValidationFailed
from keys import cache as key_cache
from keys.audit import audit_record
from keys.models import AuditAction
from keys.services import api_key_revoke

User = get_user_model()


def company_get_or_create(*, name: str) -> Company:
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationFailed("A company name needs 1 to 100 characters.", details={"name": name[:100]})
    company, _ = Company.objects.get_or_create(name=name)
    return company


def user_create(*, username: str, password: str, email: str = "") -> User:
    user = User(username=username, email=email)
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationFailed("The password is too weak: " + " ".join(exc.messages), code="weak_password") from None
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    return user


def _check_owner_remains(membership: Membership) -> None:
    """Refuse to demote or remove the company's only owner: nobody could then manage its
    members or key policy. The owners' rows are locked first, so of two owners stepping down
    at once, the second waits for the first and then finds itself the last one."""
    owner_ids = list(Membership.objects.select_for_update().filter(company_id=membership.company_id, role=Role.OWNER)
                     .order_by("pk").values_list("user_id", flat=True))
    if owner_ids == [membership.user_id]:
        raise Conflict(
            f"{membership.user.get_username()} is the last owner of {membership.company.name}, and a company "
            "needs one: make someone else an owner first.",
            code="last_owner", details={"company_id": membership.company_id, "user_id": membership.user_id},
        )


@transaction.atomic
def membership_set(*, user: User, company: Company, role: str, actor=None) -> Membership:
    """Add the user to the company with this role, or change the role they already have."""
    if role not in Role.values:
        raise ValidationFailed(f"Role must be one of {', '.join(Role.values)}.", code="invalid_role")
    membership, created = Membership.objects.get_or_create(user=user, company=company, defaults={"role": role})
    if not created and role != Role.OWNER:
        _check_owner_remains(membership)
    if created:
        audit_record(action=AuditAction.MEMBERSHIP_ADDED, company=company, target_user=user, actor=actor,
                     changes={"user": user.get_username(), "role": role})
    elif membership.role != role:
        before, membership.role = membership.role, role
        membership.save(update_fields=["role"])
        # Cached keys carry their owner's role; the new one must apply at once.
        for key in user.api_keys.filter(company=company):
            key_cache.forget_key(key)
        audit_record(action=AuditAction.MEMBERSHIP_ROLE_CHANGED, company=company, target_user=user, actor=actor,
                     changes={"user": user.get_username(), "role": {"before": before, "after": role}})
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor=None) -> None:
    """Remove someone from a company. Their keys in it are revoked: a key must not outlive
    its owner's access."""
    _check_owner_remains(membership)
    for key in membership.user.api_keys.filter(company=membership.company, revoked_at__isnull=True):
        api_key_revoke(api_key=key, revoked_by=actor)
    audit_record(action=AuditAction.MEMBERSHIP_REMOVED, company=membership.company, target_user=membership.user,
                 actor=actor, changes={"user": membership.user.get_username(), "role": membership.role})
    membership.delete()


POLICY_FIELDS = ("max_key_lifetime_days", "require_key_expiry", "unused_key_days")
MAX_POLICY_DAYS = 3650


@transaction.atomic
def company_policy_set(*, company: Company, max_key_lifetime_days: int | None, require_key_expiry: bool,
                       unused_key_days: int, actor=None) -> Company:
    """The company's key policy. It applies to keys created or extended from now on."""
    for name, value in (("max_key_lifetime_days", max_key_lifetime_days), ("unused_key_days", unused_key_days)):
        if value is not None and not 1 <= value <= MAX_POLICY_DAYS:
            raise ValidationFailed(f"{name} must be between 1 and {MAX_POLICY_DAYS} days.",
                                   details={name: [f"1 to {MAX_POLICY_DAYS}"]})
    before = {field: getattr(company, field) for field in POLICY_FIELDS}
    after = {"max_key_lifetime_days": max_key_lifetime_days, "require_key_expiry": require_key_expiry,
             "unused_key_days": unused_key_days}
    if before != after:
        for field, value in after.items():
            setattr(company, field, value)
        company.save(update_fields=list(POLICY_FIELDS))
        audit_record(action=AuditAction.POLICY_CHANGED, company=company, actor=actor,
                     changes={"before": before, "after": after})
    return company
