from django.conf import settings
from django.db import models, transaction
from django.db.models.functions import Length
from django.dispatch import Signal

models.CharField.register_lookup(Length)


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"


# Roles that manage every key of their company.
KEY_ADMIN_ROLES = frozenset({Role.OWNER, Role.ADMIN})


class ResetPeriod(models.TextChoices):
    """When a key's limits start counting again (usage.limits)."""

    DAILY = "daily", "Daily (UTC calendar day)"
    WEEKLY = "weekly", "Weekly (ISO week, from Monday 00:00 UTC)"
    MONTHLY = "monthly", "Monthly (calendar month, UTC)"


# Bounds of a limit that catch typos (an extra six zeros) rather than express policy.
MAX_REQUEST_LIMIT = 10**12
MAX_BUDGET_MICROCENTS = 10**15

# A company's key policy: what its owners set (the API, the settings page, admin) and audit.
POLICY_FIELDS = ("max_key_lifetime_days", "require_key_expiry", "unused_key_days", "default_request_limit",
                 "default_budget_limit_microcents", "default_limit_period")


class Company(models.Model):
    name = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    max_key_lifetime_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Keys must expire within this many days of being created or extended "
                                         "(rotating every 90 days is a good start). Empty: no maximum.")
    require_key_expiry = models.BooleanField(default=False, help_text="Refuse keys that never expire.")
    unused_key_days = models.PositiveSmallIntegerField(
        default=90, help_text="Active keys unused this long are listed as candidates to revoke.")
    default_request_limit = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Every new key starts limited to this many requests per period. Empty: "
                                         "no request limit for new keys.")
    default_budget_limit_microcents = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Every new key starts limited to this spend per period, in millionths of "
                                         "a cent. Empty: no budget for new keys.")
    default_limit_period = models.CharField(max_length=7, choices=ResetPeriod.choices, default=ResetPeriod.MONTHLY,
                                            help_text="The period of the default limits for new keys.")

    class Meta:
        verbose_name_plural = "companies"
        ordering = ["name"]
        constraints = [models.CheckConstraint(condition=models.Q(name__length__gt=0), name="company_name_not_empty")]

    def __str__(self):
        return self.name


# Sent by a bulk update of memberships (no post_save is): keys.signals forgets the snapshots of
# the keys they affect. A signal, so that accounts need not know of keys.
memberships_updated = Signal()


class MembershipQuerySet(models.QuerySet):
    def update(self, **kwargs):
        if set(kwargs) <= {"legacy_notice_shown_at"}:  # changes nothing a key may do
            return super().update(**kwargs)
        with transaction.atomic(using=self.db):
            pairs = list(self.values_list("user_id", "company_id"))
            updated = super().update(**kwargs)
            memberships_updated.send(sender=Membership, pairs=pairs)
        return updated


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)
    legacy_notice_shown_at = models.DateTimeField(null=True, blank=True,
                                                  help_text="When this person dismissed the legacy-keys notice.")

    objects = MembershipQuerySet.as_manager()

    class Meta:
        ordering = ["company__name", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "company"], name="one_membership_per_user_and_company"),
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self):
        return f"{self.user} in {self.company} ({self.role})"

    @property
    def manages_company_keys(self) -> bool:
        return self.role in KEY_ADMIN_ROLES
