import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Company

NAME_MAX_LENGTH = 100


class Mode(models.TextChoices):
    LIVE = "live", "Live"
    TEST = "test", "Test"


class ApiKeyQuerySet(models.QuerySet):
    def active(self, now=None):
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True).exclude(expires_at__lte=now)

    def revoked(self):
        return self.filter(revoked_at__isnull=False)

    def expired(self, now=None):
        return self.filter(revoked_at__isnull=True, expires_at__lte=now or timezone.now())


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
    name = models.CharField(max_length=NAME_MAX_LENGTH, help_text="What the key is for, e.g. 'Production Server'.")
    mode = models.CharField(max_length=4, choices=Mode.choices, default=Mode.LIVE)
    prefix = models.CharField(max_length=16, help_text="The first characters of the key, for recognising it.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="The key stops working at this instant.")
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

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

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def has_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return not self.is_revoked and not self.has_expired
