import unicodedata
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from accounts.models import Company, ResetPeriod
from core.crypto import NAME_KEY_PATTERN

NAME_MAX_LENGTH = 100
# An active key this close to its expiry is flagged on every surface, so there is time to rotate it.
EXPIRING_WITHIN = timedelta(days=7)
# What a new key's expiry defaults to on the dashboard and in admin; "never" is a deliberate choice.
DEFAULT_LIFETIME = timedelta(days=90)
# The display prefix of keys imported from the previous system, whose raw value we never saw.
LEGACY_PREFIX = "legacy"


# Characters that change how a name looks without being seen: controls, bidirectional
# overrides and isolates, zero-width and other format characters, line separators. A name
# "abc\u202egnp.exe" would read "abcexe.png" in every list.
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# Letters and symbols that draw nothing (Hangul fillers, the blank Braille pattern, the
# combining grapheme joiner, Khmer inherent vowels, Mongolian vowel separator).
BLANK_CHARACTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f\u17b4\u17b5\u180e")


def key_name_validator(value: str) -> None:
    """The one rule for a key name's characters: the model field, the API's serializers, the
    dashboard's forms and keys.services all use it."""
    for position, char in enumerate(value or "", start=1):
        if unicodedata.category(char) in INVISIBLE_CATEGORIES or char in BLANK_CHARACTERS:
            raise ValidationError(
                "A key name cannot contain control, bidirectional or invisible characters "
                "(found U+%(code)04X at character %(position)d).",
                code="invisible_character", params={"code": ord(char), "position": position})
    if value and not any(unicodedata.category(char)[0] in "LNPS" for char in value):
        raise ValidationError("A key name needs a visible letter, digit or sign.", code="invisible_name")
    # A key pasted as a name would be shown wherever names are; so would one cut short, whose
    # lost end can be worked out again from the rest.
    if value and NAME_KEY_PATTERN.search(value):
        raise ValidationError("A key name cannot contain an API key or a piece of one (sk_live_ or sk_test_ "
                              "followed by five or more letters or digits). If it is a key, treat it as "
                              "exposed and regenerate it.", code="key_in_name")


def default_scopes() -> list[str]:
    return ["all"]


class Mode(models.TextChoices):
    LIVE = "live", "Live"
    TEST = "test", "Test"


# What a key may do beyond its owner's rights, replaced together or one by one (keys.restrictions).
RESTRICTION_FIELDS = ("allowed_ips", "allowed_referrers", "scopes")
# What a key may use per period (KeyLimit), as limits are set, shown and audited.
LIMIT_FIELDS = ("request_limit", "budget_limit_microcents", "reset_period", "enabled")


class KeyState(models.TextChoices):
    """Where a key is in its life, as every surface shows and filters it. Not to be confused
    with core.outcomes.KeyStatus: how the verification of one presented value ended."""

    ACTIVE = "active", "Active"
    EXPIRING = "expiring", "Expiring soon"  # active, within EXPIRING_WITHIN of its expiry
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"


# Fields whose change alters nothing a verified key answers with: no cache entry to drop.
BOOKKEEPING_FIELDS = frozenset({"last_used_at"})
HASH_MAX_LENGTH = 100


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def update(self, **kwargs: Any) -> int:
        """A bulk change (a service, an admin action, a command) forgets every key it touches
        from the key cache, as a single save does: no cached snapshot outlives its row."""
        if set(kwargs) <= BOOKKEEPING_FIELDS:
            return super().update(**kwargs)
        from keys import cache as key_cache

        with transaction.atomic(using=self.db):
            before = list(self.values_list("pk", "key_hash", "previous_key_hash"))
            updated = super().update(**kwargs)
            # Read again after: a value re-hashed meanwhile (ApiKey.rehash) is forgotten too.
            after = ApiKey.objects.filter(pk__in=[pk for pk, *_ in before]).values_list("pk", "key_hash",
                                                                                       "previous_key_hash")
            hashes = {h for _, *pair in [*before, *after] for h in pair if h}
            if hashes:
                key_cache.forget(*hashes)
        return updated

    def active(self, now: datetime | None = None) -> "ApiKeyQuerySet":
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True).exclude(expires_at__lte=now)

    def revoked(self) -> "ApiKeyQuerySet":
        return self.filter(revoked_at__isnull=False)

    def expiring(self, now: datetime | None = None) -> "ApiKeyQuerySet":
        now = now or timezone.now()
        return self.active(now).filter(expires_at__lte=now + EXPIRING_WITHIN)

    def expired(self, now: datetime | None = None) -> "ApiKeyQuerySet":
        return self.filter(revoked_at__isnull=True, expires_at__lte=now or timezone.now())

    def in_state(self, state: str, now: datetime | None = None) -> "ApiKeyQuerySet":
        """The keys whose `status` is `state` at `now`; `active` includes the expiring ones."""
        if state == KeyState.REVOKED:
            return self.revoked()
        return {KeyState.ACTIVE: self.active, KeyState.EXPIRING: self.expiring, KeyState.EXPIRED: self.expired}[
            KeyState(state)](now)


class ApiKey(models.Model):
    """A key as stored: never the raw value, only its keyed hash and a display prefix.

    The id is random and unrelated to the secret, so regenerating keeps the same id.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="api_keys")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    name = models.CharField(
        max_length=NAME_MAX_LENGTH,
        validators=[key_name_validator],
        help_text="What the key is for, e.g. 'Production Server'.",
    )
    mode = models.CharField(max_length=4, choices=Mode.choices, default=Mode.LIVE)
    prefix = models.CharField(max_length=16, help_text="The first characters of the key, for recognising it.")
    key_hash = models.CharField(max_length=HASH_MAX_LENGTH, unique=True, editable=False,
                                help_text="The value's hash, naming its scheme and pepper (core.crypto).")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="The key stops working at this instant.")
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    allowed_ips = models.JSONField(default=list, blank=True, help_text="IP addresses and CIDR ranges; empty: any.")
    allowed_referrers = models.JSONField(default=list, blank=True,
                                         help_text="Hosts or *.domain patterns for Origin/Referer; empty: any.")
    scopes = models.JSONField(default=default_scopes, help_text="API areas the key may call; 'all' for every one.")
    # After a regenerate with a grace period, the old value keeps working until previous_expires_at.
    previous_key_hash = models.CharField(max_length=HASH_MAX_LENGTH, null=True, blank=True, unique=True,
                                         editable=False)
    previous_prefix = models.CharField(max_length=16, blank=True, editable=False)
    previous_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    is_legacy = models.BooleanField(default=False, editable=False,
                                    help_text="Imported from an older system: its value has that system's format.")
    # NULL, not "", for a key that was not imported: keys.services looks refs up with
    # legacy_import_ref__in, and NULL can never match a ref where "" might one day.
    legacy_import_ref = models.CharField(  # noqa: DJ001 (see above)
        max_length=HASH_MAX_LENGTH, null=True, blank=True, editable=False, db_index=True,
        help_text="For an imported key: a keyed hash of the SHA-256 it was imported with, so that importing "
                  "the same file again never brings back a key regenerated or revoked since.")
    created_with_key = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, editable=False, related_name="keys_created",
        help_text="The key whose holder created this one, if made with a key: a leak of it names these.")
    # The nonce of the dashboard form that made the key: unique, so two posts of one form (a
    # reload, a double click, two racing requests) make one key, and the second finds it.
    creation_token = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["company", "owner", "-created_at"], name="apikey_company_owner_idx")]
        constraints = [
            models.CheckConstraint(condition=models.Q(mode__in=Mode.values), name="apikey_mode_valid"),
            models.CheckConstraint(condition=~models.Q(name=""), name="apikey_name_not_empty"),
        ]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    def rehash(self, old: str, new: str) -> bool:
        """Store the hash that matched (`old`, current or previous value) in its newest form;
        False when the row no longer holds `old`. Caches go by the newest form; the caller
        retires the old form's shared entry (keys.cache.retire)."""
        column = "key_hash" if old == self.key_hash else "previous_key_hash"
        updated = models.QuerySet.update(ApiKey.objects.filter(pk=self.pk, **{column: old}), **{column: new})
        setattr(self, column, new)
        return bool(updated)

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def has_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return not self.is_revoked and not self.has_expired

    @property
    def status(self) -> KeyState:
        if self.is_revoked:
            return KeyState.REVOKED
        if self.has_expired:
            return KeyState.EXPIRED
        if self.expires_at and self.expires_at - timezone.now() <= EXPIRING_WITHIN:
            return KeyState.EXPIRING
        return KeyState.ACTIVE


class ExpiryNotice(models.Model):
    """An owner is told, once, that this key expires at this time: one row per key and expiry,
    so notify_expiring_keys can run from cron as often as you like. The worker sends it
    (keys.tasks); until the mail server has taken it, sent_at stays empty and the notice is
    tried again. A worker claims it for a while first, so two workers never both send it."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+")
    expires_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["api_key", "expires_at"], name="one_notice_per_expiry")]

    def __str__(self) -> str:
        return f"Expiry notice for key {self.api_key_id} expiring {self.expires_at:%Y-%m-%d}"


class KeyLimitQuerySet(models.QuerySet["KeyLimit"]):
    def update(self, **kwargs: Any) -> int:
        """A bulk change of limits forgets the cached snapshots of their keys, as a save does."""
        from keys import cache as key_cache

        with transaction.atomic(using=self.db):
            keys = ApiKey.objects.filter(pk__in=self.values("api_key_id"))
            hashes = [h for pair in keys.values_list("key_hash", "previous_key_hash") for h in pair if h]
            updated = super().update(**kwargs)
            if hashes:
                key_cache.forget(*hashes)
        return updated


class KeyLimit(models.Model):
    api_key = models.OneToOneField(ApiKey, on_delete=models.CASCADE, primary_key=True, related_name="limit")
    request_limit = models.PositiveBigIntegerField(null=True, blank=True, help_text="Requests per period.")
    budget_limit_microcents = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Spend per period, in millionths of a cent."
    )
    reset_period = models.CharField(max_length=7, choices=ResetPeriod.choices, default=ResetPeriod.MONTHLY)
    enabled = models.BooleanField(default=True)
    counted_with = models.ForeignKey(
        ApiKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        help_text="The key whose counter this key's use counts against: the limited key that created it, so that "
                  "making more keys never makes more quota. Empty: its own counter.")
    set_by_itself = models.BooleanField(
        default=False, help_text="The key set this limit on itself, so it may lift it again: it gave up what it "
                                 "had, and taking it back widens nothing (keys.grants.limits_grant_check).")
    updated_at = models.DateTimeField(auto_now=True)

    objects = KeyLimitQuerySet.as_manager()

    class Meta:
        # What a key may use is part of the key (its cached snapshot holds it); the table and
        # its migrations stay with usage, where limits began, so its content type, permissions
        # and history are kept.
        app_label = "usage"
        constraints = [
            models.CheckConstraint(condition=models.Q(reset_period__in=ResetPeriod.values), name="limit_period_valid")
        ]

    def __str__(self) -> str:
        return f"Limit of key {self.api_key_id}: {self.request_limit} requests, {self.reset_period}"

    @property
    def is_enforced(self) -> bool:
        return self.enabled and (self.request_limit is not None or self.budget_limit_microcents is not None)


class KeyChangeGeneration(models.Model):
    """One row counting the changes to cached key snapshots (keys.cache.forget): with local
    memory only, how a worker learns that another process changed a key. Each forget adds one
    in the changing transaction; each worker reads it at most once per API_KEY_LOCAL_SECONDS
    and drops its copies when it moved. The row is made by the first change (a flushed test
    database has none: read as 0)."""

    ROW = 1
    value = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "key change generation"

    def __str__(self) -> str:
        return f"Key change generation {self.value}"
