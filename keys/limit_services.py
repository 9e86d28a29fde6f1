"""Every write to a key's limits, and issuing a key with the limit it inherits."""
import uuid
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.views.decorators.debug import sensitive_variables

from accounts.access import Operator, limits_check_manage, role_of
from accounts.models import MAX_BUDGET_MICROCENTS, MAX_REQUEST_LIMIT, Company, ResetPeriod
from audit.models import AuditAction
from audit.services import audit_record
from core.errors import invalid
from keys.grants import (
    Grantor,
    company_default_limit,
    expiry_check_grant,
    grant_check,
    grant_of,
    inherited_expiry,
    inherited_limit,
    limits_grant_check,
)
from keys.models import ApiKey, KeyLimit, Mode, default_scopes
from keys.services import api_key_create, api_key_import_legacy
from keys.verification import LimitSnapshot


@transaction.atomic
def limits_set(*, api_key: ApiKey, grantor: Grantor, request_limit: int | None = None,
               budget_limit_microcents: int | None = None, reset_period: str = ResetPeriod.MONTHLY,
               enabled: bool = True) -> KeyLimit:
    """Replace the key's limits. Use so far in the current period still counts. Only a person
    who outranks the key's owner, or an owner, changes them (accounts.access.limits_check_manage)."""
    limits_check_change(grantor, api_key)
    acting_key = grant_of(grantor)
    return _limits_write(api_key=api_key, actor_user=grantor.user, request_limit=request_limit,
                         budget_limit_microcents=budget_limit_microcents, reset_period=reset_period, enabled=enabled,
                         set_by_itself=acting_key is not None and acting_key.key_id == api_key.pk)


def limits_check_change(grantor: Grantor, api_key: ApiKey) -> None:
    """limits_set's and limits_delete's check, for forms that refuse before saving."""
    if not isinstance(grantor, Operator):
        limits_check_manage(grantor, api_key)
        limits_grant_check(grantor, api_key)


def _limits_write(*, api_key: ApiKey, actor_user: User | None, request_limit: int | None,
                  budget_limit_microcents: int | None, reset_period: str, enabled: bool = True,
                  counted_with_id: uuid.UUID | None = None, set_by_itself: bool = False) -> KeyLimit:
    limits_check_values(request_limit=request_limit, budget_limit_microcents=budget_limit_microcents,
                        reset_period=reset_period)
    before = _as_dict(KeyLimit.objects.filter(api_key=api_key).first())
    after = {"request_limit": request_limit, "budget_limit_microcents": budget_limit_microcents,
             "reset_period": reset_period, "enabled": enabled}
    # Limits set by a person count on the key's own counter; inherited ones on their creator's.
    limit, created = KeyLimit.objects.update_or_create(api_key=api_key,
                                                       defaults={**after, "counted_with_id": counted_with_id,
                                                                 "set_by_itself": set_by_itself})
    if before != after:
        audit_record(action=AuditAction.LIMITS_SET if created else AuditAction.LIMITS_CHANGED,
                     company=api_key.company_id, api_key=api_key, actor_user=actor_user,
                     changes={"before": before, "after": after})
    return limit


def limits_check_values(*, request_limit: object, budget_limit_microcents: object, reset_period: object) -> None:
    """Whole numbers within their bounds, a known period, and at least one number: a limit of
    nothing is no limit, and lifting limits is limits_delete's (so `{}` never clears them)."""
    for name, value, most in (("request_limit", request_limit, MAX_REQUEST_LIMIT),
                              ("budget_limit_microcents", budget_limit_microcents, MAX_BUDGET_MICROCENTS)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= most):
            raise invalid(name, f"{name} must be a whole number from 0 to {most:,}.", "out_of_range")
    if reset_period not in ResetPeriod.values:
        raise invalid("reset_period", "reset_period must be daily, weekly or monthly.", "invalid_choice")
    if request_limit is None and budget_limit_microcents is None:
        raise ValidationError("Set a request limit, a budget or both. To let the key make any number of requests, "
                              "remove its limits instead.", code="no_limit")


def _as_dict(limit: KeyLimit | None) -> dict[str, Any] | None:
    if limit is None:
        return None
    return {"request_limit": limit.request_limit, "budget_limit_microcents": limit.budget_limit_microcents,
            "reset_period": limit.reset_period, "enabled": limit.enabled}


@transaction.atomic
def limits_delete(*, api_key: ApiKey, grantor: Grantor) -> bool:
    limits_check_change(grantor, api_key)
    before = _as_dict(KeyLimit.objects.filter(api_key=api_key).first())
    deleted, _ = KeyLimit.objects.filter(api_key=api_key).delete()
    if deleted:
        audit_record(action=AuditAction.LIMITS_REMOVED, company=api_key.company_id, api_key=api_key,
                     actor_user=grantor.user, changes={"before": before})
    return bool(deleted)


@sensitive_variables("raw")
@transaction.atomic
def api_key_issue(*, grantor: Grantor, company: Company, owner: User, name: str, mode: str = Mode.LIVE,
                  expires_at: datetime | None = None, scopes: list[str] | None = None,
                  creation_token: str | None = None) -> tuple[ApiKey, str]:
    """A new key and its raw value, for every surface: the grant rule (keys.grants) decides
    whether the grantor may obtain it, and the key starts with the limit it inherits, that of
    the limited key creating it or else the company's default for new keys. Scopes default to
    those of the key creating it, or every area."""
    grant = grant_of(grantor)
    if scopes is None:
        scopes = list(grant.scopes) if grant is not None else default_scopes()
    limit = inherited_limit(grantor, company)
    grant_check(grantor, owner_id=owner.pk, owner_role=role_of(company.pk, owner.pk), scopes=scopes, obtains=limit,
                mode=mode)
    expires_at = inherited_expiry(grantor, expires_at)
    expiry_check_grant(grantor, expires_at)
    key, raw = api_key_create(company=company, owner=owner, name=name, mode=mode, expires_at=expires_at,
                              actor_user=grantor.user, scopes=scopes,
                              created_with_key_id=grant.key_id if grant is not None else None,
                              creation_token=creation_token)
    _limits_start(key, limit, actor_user=grantor.user)
    return key, raw


def api_key_issue_once(*, creation_token: str, owner: User, **fields: Any) -> tuple[ApiKey, str | None]:
    """api_key_issue for a form that may arrive twice: the key made with this creation token,
    and its raw value only the first time (None when the token made its key already). The
    unique column decides between two racing posts: the loser's insert fails and it finds the
    winner's key."""
    made = ApiKey.objects.filter(creation_token=creation_token, owner=owner).first()
    if made is not None:
        return made, None
    try:
        return api_key_issue(creation_token=creation_token, owner=owner, **fields)
    except IntegrityError:
        made = ApiKey.objects.filter(creation_token=creation_token, owner=owner).first()
        if made is None:
            raise
        return made, None


def _limits_start(key: ApiKey, limit: LimitSnapshot | None, *, actor_user: User | None) -> None:
    if limit is not None:
        _limits_write(api_key=key, actor_user=actor_user, request_limit=limit.request_limit,
                      budget_limit_microcents=limit.budget_limit_microcents, reset_period=limit.reset_period,
                      counted_with_id=limit.counter_key_id)


@transaction.atomic
def api_key_import(*, company: Company, owner: User, name: str, sha256_of_key: str, created_at: datetime,
                   expires_at: datetime | None) -> ApiKey | None:
    """A key of the system we replace (keys.services.api_key_import_legacy), starting with the
    company's default limit for new keys, as every new key does. None when imported before."""
    key = api_key_import_legacy(company=company, owner=owner, name=name, sha256_of_key=sha256_of_key,
                                created_at=created_at, expires_at=expires_at)
    if key is not None:
        _limits_start(key, company_default_limit(company), actor_user=None)
    return key
