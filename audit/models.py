"""The audit log: who did what to a key, its limits or restrictions, a membership or the key
policy, and from where. Every app above this one records into it (audit.services)."""
from django.conf import settings
from django.db import models
from django.utils import timezone

from core.crypto import NAME_KEY_PATTERN, mask_keys


class AuditAction(models.TextChoices):
    KEY_CREATED = "key.created", "Key created"
    KEY_RENAMED = "key.renamed", "Key renamed"
    KEY_EXPIRY_CHANGED = "key.expiry_changed", "Key expiry changed"
    KEY_REGENERATED = "key.regenerated", "Key regenerated"
    KEY_REVOKED = "key.revoked", "Key revoked"
    GRACE_ENDED = "key.grace_ended", "Key's old value stopped"
    LIMITS_SET = "limits.set", "Limits set"
    LIMITS_CHANGED = "limits.changed", "Limits changed"
    LIMITS_REMOVED = "limits.removed", "Limits removed"
    RESTRICTIONS_CHANGED = "restrictions.changed", "Restrictions changed"
    MEMBERSHIP_ADDED = "membership.added", "Member added"
    MEMBERSHIP_ROLE_CHANGED = "membership.role_changed", "Member's role changed"
    MEMBERSHIP_REMOVED = "membership.removed", "Member removed"
    POLICY_CHANGED = "company.policy_changed", "Key policy changed"
    REVOKED_KEY_USED = "security.revoked_key_used", "Revoked key used"
    EXPIRED_KEY_USED = "security.expired_key_used", "Expired key used"
    KEY_REFUSED_BY_RESTRICTION = "security.restriction_refused", "Key refused by a restriction"
    KEY_LEAKED = "security.key_leaked", "Key reported leaked"


class Surface(models.TextChoices):
    API = "api", "API"
    DASHBOARD = "dashboard", "Dashboard"
    ADMIN = "admin", "Django admin"
    COMMAND = "command", "Management command"


class AuditEventImmutable(Exception):
    """An audit event was asked to change or go away: the log is append-only."""


class AuditEventQuerySet(models.QuerySet):
    """Events are append-only: bulk changes are refused like single ones."""

    def update(self, **kwargs):
        raise AuditEventImmutable("Audit events cannot be changed.")

    def delete(self):
        raise AuditEventImmutable("Audit events cannot be deleted.")


class AuditEvent(models.Model):
    """Who did what to a key or a membership, from where. Append-only: the model refuses
    updates and deletes, and on PostgreSQL a trigger refuses them too.

    References are plain ids without database constraints (db_constraint=False,
    DO_NOTHING), so deleting a user or key never rewrites history; the labels keep what
    they were called.
    """

    company = models.ForeignKey("accounts.Company", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=40, choices=AuditAction.choices)
    surface = models.CharField(max_length=10, choices=Surface.choices)
    actor_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, db_constraint=False,
                                   null=True, blank=True, related_name="+")
    actor_key = models.ForeignKey(
        "keys.ApiKey",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
        help_text="The key the actor authenticated with, if any.",
    )
    actor_label = models.CharField(max_length=150, blank=True)
    api_key = models.ForeignKey("keys.ApiKey", on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True,
                                related_name="audit_events")
    api_key_label = models.CharField(max_length=120, blank=True)
    target_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, db_constraint=False,
                                    null=True, blank=True, related_name="+")
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True)
    changes = models.JSONField(default=dict, blank=True, help_text="Before and after of what changed; never a secret.")

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        # The table and its migrations stay with keys, where the log began: moving the model
        # between apps would rename its content type and permissions, and the PostgreSQL
        # trigger that keeps it append-only names the table.
        app_label = "keys"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["company", "-created_at"], name="audit_company_time_idx"),
            models.Index(fields=["api_key", "-created_at"], name="audit_key_time_idx"),
        ]

    def __str__(self):
        return f"{self.get_action_display()} by {self.actor_label or 'system'}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditEventImmutable("Audit events cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditEventImmutable("Audit events cannot be deleted.")

    @classmethod
    def from_db(cls, db, field_names, values):
        """An event read back shows any piece of a key its key's name held masked: names took
        one in before keys.0014. Events are never rewritten, so this is where every surface (the
        audit API, the key's history, the admin) gets them masked."""
        event = super().from_db(db, field_names, values)
        loaded = event.__dict__
        if "api_key_label" in loaded:
            event.api_key_label = mask_keys(event.api_key_label, NAME_KEY_PATTERN)
        if "changes" in loaded:
            event.changes = _masked(event.changes)
        return event


def _masked(value):
    if isinstance(value, str):
        return mask_keys(value, NAME_KEY_PATTERN)
    if isinstance(value, dict):
        return {name: _masked(item) for name, item in value.items()}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value
