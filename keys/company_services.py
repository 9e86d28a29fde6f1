from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User as AuthUser
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import (
    MAX_BUDGET_MICROCENTS,
    MAX_REQUEST_LIMIT,
    POLICY_FIELDS,
    Company,
    Membership,
    ResetPeriod,
    Role,
)
from audit.models import AuditAction
from audit.services import audit_record
from core.errors import Conflict, invalid
from keys.services import api_key_revoke

User = get_user_model()


def company_get_or_create(*, name: str) -> Company:
    name = name.strip()
    longest = Company._meta.get_field("name").max_length or 0
    if not name or len(name) > longest:
        raise invalid("name", f"A company name needs 1 to {longest} characters.", "max_length")
    company, _ = Company.objects.get_or_create(name=name)
    return company


def user_create(*, username: str, password: str, email: str = "") -> AuthUser:
    user = User(username=username, email=email)
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise invalid("password", "The password is too weak: " + " ".join(exc.messages), code="weak_password") from None
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
            code="last_owner", extra={"company_id": membership.company_id, "user_id": membership.user_id},
        )


@transaction.atomic
def membership_set(*, user: AuthUser, company: Company, role: str,
                   actor_user: AuthUser | None = None) -> Membership:
    """Add the user to the company with this role, or change the role they already have."""
    if role not in Role.values:
        raise invalid("role", f"Role must be one of {', '.join(Role.values)}.", code="invalid_role")
    membership, created = Membership.objects.get_or_create(user=user, company=company, defaults={"role": role})
    if not created and role != Role.OWNER:
        _check_owner_remains(membership)
    if created:
        audit_record(action=AuditAction.MEMBERSHIP_ADDED, company=company, target_user=user, actor_user=actor_user,
                     changes={"user": user.get_username(), "role": role})
    elif membership.role != role:
        before, membership.role = membership.role, role
        membership.save(update_fields=["role"])  # cached keys carry the role: keys.signals forgets them
        audit_record(action=AuditAction.MEMBERSHIP_ROLE_CHANGED, company=company, target_user=user,
                     actor_user=actor_user,
                     changes={"user": user.get_username(), "role": {"before": before, "after": role}})
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor_user: AuthUser | None = None) -> None:
    """Remove someone from a company. Their keys in it are revoked: a key must not outlive
    its owner's access."""
    _check_owner_remains(membership)
    for key in membership.user.api_keys.filter(company=membership.company, revoked_at__isnull=True):
        api_key_revoke(api_key=key, actor_user=actor_user)
    audit_record(action=AuditAction.MEMBERSHIP_REMOVED, company=membership.company, target_user=membership.user,
                 actor_user=actor_user, changes={"user": membership.user.get_username(), "role": membership.role})
    membership.delete()


MAX_POLICY_DAYS = 3650
UNCHANGED: Any = object()  # an argument not given, where None means "none"


def company_policy_check(policy: dict[str, Any]) -> None:
    """company_policy_set's bounds, for forms that refuse before saving."""
    bounds = (("max_key_lifetime_days", 1, MAX_POLICY_DAYS, "days"), ("unused_key_days", 1, MAX_POLICY_DAYS, "days"),
              ("default_request_limit", 0, MAX_REQUEST_LIMIT, "requests"),
              ("default_budget_limit_microcents", 0, MAX_BUDGET_MICROCENTS, "microcents"))
    for name, low, high, unit in bounds:
        value = policy[name]
        if value is not None and not low <= value <= high:
            raise invalid(name, f"{name} must be between {low:,} and {high:,} {unit}.", "out_of_range")
    if policy["default_limit_period"] not in ResetPeriod.values:
        raise invalid("default_limit_period", f"default_limit_period must be one of {', '.join(ResetPeriod.values)}.",
                      "invalid_choice")


@transaction.atomic
def company_policy_set(*, company: Company, max_key_lifetime_days: int | None, require_key_expiry: bool,
                       unused_key_days: int, default_request_limit: int | None = UNCHANGED,
                       default_budget_limit_microcents: int | None = UNCHANGED, default_limit_period: str = UNCHANGED,
                       actor_user: AuthUser | None = None) -> Company:
    """The company's key policy. It applies to keys created or extended from now on; the default
    limits are those every new key starts with (keys.grants), left as they are when not given."""
    before = {field: getattr(company, field) for field in POLICY_FIELDS}
    after = {field: value for field, value in zip(POLICY_FIELDS, (
        max_key_lifetime_days, require_key_expiry, unused_key_days, default_request_limit,
        default_budget_limit_microcents, default_limit_period), strict=True)}
    after = {field: before[field] if value is UNCHANGED else value for field, value in after.items()}
    company_policy_check(after)
    if before != after:
        for field, value in after.items():
            setattr(company, field, value)
        company.save(update_fields=list(POLICY_FIELDS))
        audit_record(action=AuditAction.POLICY_CHANGED, company=company, actor_user=actor_user,
                     changes={"before": before, "after": after})
    return company
