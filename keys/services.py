"""Every write to an API key. The API, the dashboard, admin and the commands all call these."""
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts.models import Company, Membership
from audit.models import AuditAction
from audit.services import audit_record
from core import crypto, sqlite_bulk
from core.errors import Conflict, NotFound, invalid
from keys import cache as key_cache
from keys.grants import Grantor, expiry_check_grant, key_grant_check
from keys.models import LEGACY_PREFIX, NAME_MAX_LENGTH, ApiKey, Mode, default_scopes, key_name_validator
from keys.restrictions import clean_scopes, restrictions_clean

# last_used_at is for people ("used 3 minutes ago"); writing it on every request would turn
# each keyed read into a write, so it is refreshed at most this often per key.
LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_GRACE_SECONDS = 7 * 24 * 3600
UNSET: Any = object()  # an argument not given, where None means "none"


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise invalid("name", "Give the key a name, e.g. 'Production Server'.", "required")
    if len(name) > NAME_MAX_LENGTH:
        raise invalid("name", f"A key name has at most {NAME_MAX_LENGTH} characters; this one has {len(name)}.",
                      "max_length")
    try:
        key_name_validator(name)
    except ValidationError as error:
        raise ValidationError({"name": error.error_list}) from None
    return name


def _check_policy(company: Company, expires_at: datetime | None) -> None:
    """The company's key policy, for keys created or given a new expiry."""
    longest = company.max_key_lifetime_days
    if expires_at is None and (company.require_key_expiry or longest):
        raise invalid("expires_at", f"{company.name} requires every key to expire"
                      + (f" within {longest} days" if longest else "") + "; set expires_at.", code="policy_violation")
    if longest and expires_at is not None and expires_at > timezone.now() + timedelta(days=longest):
        raise invalid("expires_at", f"{company.name} allows keys to live at most {longest} days; pick an expiry on "
                      f"or before {(timezone.now() + timedelta(days=longest)):%Y-%m-%d}.", code="policy_violation")


def _clean_expires_at(expires_at: datetime | None) -> datetime | None:
    if expires_at is None:
        return None
    if timezone.is_naive(expires_at):
        raise invalid("expires_at", "expires_at needs a timezone, e.g. 2027-01-31T00:00:00Z.", "naive")
    if expires_at <= timezone.now():
        raise invalid("expires_at", "expires_at must be in the future; leave it out for a key that does not expire.",
                      "past")
    return expires_at


def api_key_check(*, name: str = UNSET, expires_at: datetime | None = UNSET, company: Company | None = None,
                  owner: User | None = None) -> None:
    """The field rules of create and update, for forms that show errors before saving; with a
    company and an owner, also the cap on their active keys (in the form's transaction, whose
    lock then holds until the key is saved)."""
    if name is not UNSET:
        _clean_name(name)
    if expires_at is not UNSET:
        _clean_expires_at(expires_at)
    if company is not None and owner is not None:
        _check_key_count(company=company, owner=owner)


@transaction.atomic
def _check_key_count(*, company: Company, owner: User) -> None:
    """At most API_KEYS_PER_USER active keys per person and company. The owner's membership row
    is locked first (until the caller's transaction ends), so two creates at once are counted
    one after the other rather than both taking the last place."""
    list(Membership.objects.select_for_update().filter(user=owner, company=company).order_by().values_list("pk"))
    active = ApiKey.objects.filter(company=company, owner=owner).active().count()
    limit = settings.API_KEYS_PER_USER
    if active >= limit:
        raise Conflict(
            f"{owner.get_username()} already has {active} active API keys in {company.name}, and at most {limit} "
            "are allowed: revoke unused keys first.",
            code="too_many_api_keys", extra={"active_keys": active, "limit": limit},
        )


@sensitive_variables("raw")
@transaction.atomic
def api_key_create(
    *,
    company: Company,
    owner: User,
    name: str,
    mode: str = Mode.LIVE,
    expires_at: datetime | None = None,
    actor_user: User | None = None,
    scopes: list[str] | None = None,
    created_with_key_id: uuid.UUID | None = None,
    creation_token: str | None = None,
) -> tuple[ApiKey, str]:
    """Insert a key and return it with its raw value, which exists only in this return value.
    Surfaces call keys.limit_services.api_key_issue, which asks the grant rule (keys.grants) and
    gives the key its inherited limit; this is the insert beneath it."""
    if mode not in Mode.values:
        raise invalid("mode", "mode must be 'live' or 'test'.", "invalid_choice")
    if not Membership.objects.filter(user=owner, company=company).exists():
        raise NotFound(f"{owner} is not a member of {company}.", code="user_not_found")
    _check_key_count(company=company, owner=owner)
    _check_policy(company, _clean_expires_at(expires_at))
    raw = crypto.generate_key(mode)
    key = ApiKey.objects.create(
        company=company,
        owner=owner,
        created_by=actor_user or owner,
        name=_clean_name(name),
        mode=mode,
        prefix=crypto.parse_key(raw).display_prefix,
        key_hash=crypto.hash_key(raw),
        expires_at=_clean_expires_at(expires_at),
        scopes=clean_scopes(scopes) if scopes is not None else default_scopes(),
        created_with_key_id=created_with_key_id,
        creation_token=creation_token,
    )
    audit_record(action=AuditAction.KEY_CREATED, company=company, api_key=key, actor_user=actor_user,
                 changes={"name": key.name, "mode": mode, "owner": owner.get_username(),
                          "expires_at": _iso(key.expires_at), "scopes": key.scopes})
    return key, raw


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


@transaction.atomic
def api_key_update(*, api_key: ApiKey, grantor: Grantor, name: str = UNSET,
                   expires_at: datetime | None = UNSET) -> ApiKey:
    """Rename or change expiry; one audit event for each thing that really changed. A new
    expiry can keep a key alive longer, so it is the grant rule's to allow (keys.grants)."""
    changed: list[tuple[str, str, Any, Any]] = []
    actor_user = grantor.user
    if name is not UNSET and _clean_name(name) != api_key.name:
        changed.append((AuditAction.KEY_RENAMED, "name", api_key.name, _clean_name(name)))
    if expires_at is not UNSET and _clean_expires_at(expires_at) != api_key.expires_at:
        key_grant_check(grantor, api_key)
        expiry_check_grant(grantor, expires_at)
        _check_policy(api_key.company, expires_at)
        changed.append((AuditAction.KEY_EXPIRY_CHANGED, "expires_at", api_key.expires_at, expires_at))
    for _, field, _, after in changed:
        setattr(api_key, field, after)
    if changed:
        api_key.save(update_fields=[field for _, field, _, _ in changed])
    for action, field, before, after in changed:
        if field == "expires_at":
            before, after = _iso(before), _iso(after)
        audit_record(action=action, company=api_key.company, api_key=api_key, actor_user=actor_user,
                     changes={field: {"before": before, "after": after}})
    return api_key


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, actor_user: User | None = None) -> ApiKey:
    """Revocation is final and idempotent: revoking twice keeps the first date and actor."""
    # A bulk update, so it forgets the key from every cache (ApiKeyQuerySet.update).
    revoked = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=actor_user
    )
    api_key.refresh_from_db(fields=["revoked_at", "revoked_by"])
    if revoked:
        audit_record(action=AuditAction.KEY_REVOKED, company=api_key.company, api_key=api_key, actor_user=actor_user)
    return api_key


@transaction.atomic
def api_key_end_grace(*, api_key: ApiKey, actor_user: User | None = None) -> ApiKey:
    """Stop the old value of a regenerated key now (it was leaked, say); the current value
    keeps working."""
    ended = ApiKey.objects.filter(pk=api_key.pk, previous_key_hash__isnull=False).update(
        previous_key_hash=None, previous_prefix="", previous_expires_at=None)
    if ended:
        audit_record(action=AuditAction.GRACE_ENDED, company=api_key.company_id, api_key=api_key, actor_user=actor_user,
                     changes={"old_value": api_key.previous_prefix, "worked_until": _iso(api_key.previous_expires_at)})
    api_key.refresh_from_db(fields=["previous_key_hash", "previous_prefix", "previous_expires_at"])
    return api_key


@sensitive_variables("raw")
@transaction.atomic
def api_key_regenerate(*, api_key: ApiKey, grantor: Grantor, grace_period_seconds: int = 0) -> tuple[ApiKey, str]:
    """A new secret for the same key: same id, name, owner and settings. The old value stops
    working as this transaction commits, or, with a grace period, at now + grace to the second,
    so a deployment can roll over without downtime. A value older than that dies at once.
    The grantor receives the new value, so the grant rule decides (keys.grants)."""
    if not 0 <= grace_period_seconds <= MAX_GRACE_SECONDS:
        raise invalid("grace_period_seconds", f"grace_period_seconds must be between 0 and {MAX_GRACE_SECONDS} "
                      "(7 days).", "out_of_range")
    key = ApiKey.objects.select_for_update(of=("self",)).select_related("limit").get(pk=api_key.pk)
    key_grant_check(grantor, key, obtains_value=True)
    if key.is_revoked:
        raise Conflict(
            f"This key was revoked on {key.revoked_at:%Y-%m-%d} and cannot be brought back; create a new key.",
            code="target_key_revoked",
        )
    if key.has_expired:
        raise Conflict(
            f"This key expired on {key.expires_at:%Y-%m-%d}; set a new expires_at first, or create a new key.",
            code="target_key_expired",
        )
    key_cache.forget_key(key)
    raw = crypto.generate_key(key.mode)
    old_prefix = key.prefix
    if grace_period_seconds:
        key.previous_key_hash, key.previous_prefix = key.key_hash, key.prefix
        key.previous_expires_at = timezone.now() + timedelta(seconds=grace_period_seconds)
    else:
        key.previous_key_hash, key.previous_prefix, key.previous_expires_at = None, "", None
    key.prefix = crypto.parse_key(raw).display_prefix
    key.key_hash = crypto.hash_key(raw)
    key.is_legacy = False
    key.save(update_fields=["prefix", "key_hash", "previous_key_hash", "previous_prefix", "previous_expires_at",
                            "is_legacy"])
    audit_record(action=AuditAction.KEY_REGENERATED, company=key.company, api_key=key, actor_user=grantor.user,
                 changes={"prefix": {"before": old_prefix, "after": key.prefix},
                          "old_value_works_until": _iso(key.previous_expires_at)})
    return key, raw


def api_keys_touch(*, uses: dict[uuid.UUID, datetime]) -> None:
    """Record when keys were used (`uses`: key id -> its latest use). The request log's writer
    calls it in the transaction of each batch, so a keyed request writes nothing itself. Each
    key at most once per LAST_USED_RESOLUTION per worker, by one conditional UPDATE per batch
    for all the keys due (which also skips keys another worker touched within it); remembered
    apart from the cached snapshot, so that use never extends a cache entry's life. One statement,
    not one per key: with 2,000 keys in rotation the per-key UPDATEs cost more than the rest of
    the batch (docs/benchmarks.md)."""
    due = [(key_id, at) for key_id, at in uses.items() if key_cache.touch_due(key_id, at, LAST_USED_RESOLUTION)]
    if not due:
        return
    transaction.on_commit(lambda: key_cache.touches_recorded(due))
    table = connection.ops.quote_name(ApiKey._meta.db_table)
    # Not moved when another worker recorded a use within the resolution (or a later one).
    if connection.vendor == "postgresql":
        # Each column as one array: a short statement psycopg parses once, whatever the count.
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS k SET last_used_at = v.at "
                "FROM unnest(%s::uuid[], %s::timestamptz[], %s::timestamptz[]) AS v(id, at, since) "
                "WHERE k.id = v.id AND (k.last_used_at IS NULL OR k.last_used_at <= v.since)",
                [[key_id for key_id, _ in due], [at for _, at in due], [at - LAST_USED_RESOLUTION for _, at in due]],
            )
        return
    # In-process SQLite: one prepared statement run over the keys is as cheap, with the values
    # converted as the request log's are (a minute after 2,000 keys were first used, each is due).
    text = sqlite_bulk.time_text()
    sqlite_bulk.run_many(
        f"UPDATE {table} SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)",
        [(text(at), sqlite_bulk.uuid_text(key_id), text(at - LAST_USED_RESOLUTION)) for key_id, at in due],
    )


@transaction.atomic
def api_key_set_restrictions(*, api_key: ApiKey, grantor: Grantor, allowed_ips: list[str] = UNSET,
                             allowed_referrers: list[str] = UNSET, scopes: list[str] = UNSET) -> ApiKey:
    """Replace the given restrictions; entries are validated and normalised, and every bad one
    named at once. Lifting a restriction widens the key, so the grant rule decides (keys.grants)."""
    given = {"allowed_ips": allowed_ips, "allowed_referrers": allowed_referrers, "scopes": scopes}
    wanted = restrictions_clean(**{field: value for field, value in given.items() if value is not UNSET})
    before = {field: getattr(api_key, field) for field in wanted}
    if before != wanted:
        key_grant_check(grantor, api_key, scopes=wanted.get("scopes"))
        for field, value in wanted.items():
            setattr(api_key, field, value)
        api_key.save(update_fields=list(wanted))
        audit_record(action=AuditAction.RESTRICTIONS_CHANGED, company=api_key.company, api_key=api_key,
                     actor_user=grantor.user,
                     changes={"before": before, "after": wanted})
    return api_key


@transaction.atomic
def api_key_import_legacy(*, company: Company, owner: User, name: str, sha256_of_key: str, created_at: datetime,
                          expires_at: datetime | None) -> ApiKey | None:
    """A key of the system we replace, known only by the SHA-256 of its value. It authenticates
    as it did there, flagged legacy until it is regenerated. None when it was imported before."""
    if not Membership.objects.filter(user=owner, company=company).exists():
        raise NotFound(f"{owner} is not a member of {company}.", code="user_not_found")
    stored = crypto.legacy_stored(sha256_of_key)
    # Known by a keyed hash of its SHA-256 (under any listed pepper), which nothing changes: a
    # key imported before and re-hashed, regenerated or revoked since is never imported again.
    refs = crypto.candidate_hashes(sha256_of_key)
    if ApiKey.objects.filter(Q(key_hash=stored) | Q(previous_key_hash=stored) | Q(legacy_import_ref__in=refs)).exists():
        return None
    key = ApiKey.objects.create(company=company, owner=owner, created_by=owner, name=_clean_name(name),
                                mode=Mode.LIVE, prefix=LEGACY_PREFIX, key_hash=stored, created_at=created_at,
                                legacy_import_ref=refs[0],
                                expires_at=expires_at, is_legacy=True)
    audit_record(action=AuditAction.KEY_CREATED, company=company, api_key=key,
                 changes={"name": key.name, "legacy": True, "owner": owner.get_username(),
                          "expires_at": _iso(expires_at)})
    return key
