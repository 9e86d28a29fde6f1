from typing import Any

from django.conf import settings
from django.db import models

from accounts.models import Company
from keys.models import ApiKey


def is_success(status_code: int) -> bool:
    return status_code < 400


# The request log and its rollups are written in batches after the request (usage.recorder): a
# key, user or company deleted in between must not make a batch fail. So their references carry
# no database constraint (as audit events' do): records outlive their key and user, and go with
# their company only when Django deletes the company.
UNCONSTRAINED: dict[str, Any] = {"db_constraint": False, "db_index": False, "related_name": "+"}


class RangeIndex(models.Index):
    """An index for finding rows in a range of its column, never for reading them in its order:
    BRIN on PostgreSQL, a B-tree elsewhere. A BRIN index keeps each block range's lowest and
    highest value, tiny and cheap to keep up on an append-mostly table, and the planner can use
    it only for a bitmap scan of the ranges that may match, never for an ORDER BY walk."""

    def create_sql(self, model, schema_editor, using="", **kwargs):
        if schema_editor.connection.vendor == "postgresql":
            using = " USING brin"
        return super().create_sql(model, schema_editor, using=using, **kwargs)


class RequestLog(models.Model):
    """One row per keyed request, including those refused for a known key (401/403/429)."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.DO_NOTHING, **UNCONSTRAINED)
    company = models.ForeignKey(Company, on_delete=models.CASCADE, **UNCONSTRAINED)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, null=True, **UNCONSTRAINED)
    created_at = models.DateTimeField()
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=255)
    route = models.CharField(max_length=150, blank=True)
    status_code = models.PositiveSmallIntegerField()
    error_code = models.CharField(max_length=50, blank=True)
    latency_ms = models.PositiveIntegerField()
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True)
    domain = models.CharField(max_length=255, blank=True)
    tier = models.CharField(max_length=20)
    cost_microcents = models.BigIntegerField(default=0)
    request_id = models.CharField(max_length=64, blank=True, help_text="The request's X-Request-Id, as in the logs")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # A key's rows in the list's whole order, ties by id included: a page is the first
            # rows of the index from its cursor, with no sort. On (key, created_at) alone SQLite,
            # once it has statistics, walked the created_at index instead (it gives the whole
            # order, rowid being id) through every other key's rows.
            models.Index(fields=["api_key", "-created_at", "-id"], name="requestlog_key_time_id_idx"),
            # Pruning's (usage.services): the rows older than a moment, whatever their key. Not a
            # B-tree on PostgreSQL: one on created_at gives the list's order too, and for a key
            # holding most of the log the planner priced walking it backwards, filtering on the
            # key, at about the key's own index: a first page then skipped every row other keys
            # wrote since the key's 51st newest (41,611 rows, 4.9 ms instead of 0.04; usage.0009).
            # SQLite keeps a B-tree, and breaks that near tie by the indexes' order of creation:
            # with this one made after the key's (usage.0009), it reads a cursor page off the key's
            # index; made before, it walked this one. tests/usage/test_request_log_plan.py holds
            # both databases to the key's index.
            RangeIndex(fields=["created_at"], name="requestlog_age_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.status_code} at {self.created_at:%Y-%m-%d %H:%M:%S}"

    @property
    def outcome(self) -> str:
        return "success" if is_success(self.status_code) else "failed"


class Rollup(models.Model):
    """Totals per key, bucket, tier, status and error code, kept up to date as log rows are
    written, so analytics read O(buckets) rows, never O(requests)."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.DO_NOTHING, **UNCONSTRAINED)
    company = models.ForeignKey(Company, on_delete=models.CASCADE, **UNCONSTRAINED)
    bucket = models.DateTimeField()
    tier = models.CharField(max_length=20)
    status_code = models.PositiveSmallIntegerField()
    error_code = models.CharField(max_length=50, blank=True)
    requests = models.BigIntegerField(default=0)
    spend_microcents = models.BigIntegerField(default=0)
    last_seen = models.DateTimeField()

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.requests} requests of key {self.api_key_id} from {self.bucket:%Y-%m-%d %H:%M}"


class UsageRollup(Rollup):
    """Per UTC hour: windows of up to two days, and the hourly chart."""

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["api_key", "bucket", "tier", "status_code", "error_code"], name="one_rollup_per_dimension"
            )
        ]
        indexes = [models.Index(fields=["company", "bucket"], name="rollup_company_bucket_idx")]


class DailyRollup(Rollup):
    """Per UTC day: longer windows read at most one row per day and dimension, however many
    requests the key made (90 days of a busy key: ~800 rows instead of ~20,000 hourly ones)."""

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["api_key", "bucket", "tier", "status_code", "error_code"], name="one_daily_rollup_per_dimension"
            )
        ]
        indexes = [models.Index(fields=["company", "bucket"], name="daily_company_bucket_idx")]


class LimitCounter(models.Model):
    """Use of a limited key in one period, when the counter store is the database. Counted on
    the request path, possibly just after its key was deleted: no constraint to trip on."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, **UNCONSTRAINED)
    period_start = models.DateTimeField()
    requests = models.BigIntegerField(default=0)
    spend_microcents = models.BigIntegerField(default=0)
    # Blocks of the quota leased to workers and not yet settled (usage.quota_leases): the limit
    # counts them as used, the limits page does not.
    reserved_requests = models.BigIntegerField(default=0)
    reserved_microcents = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["api_key", "period_start"], name="one_counter_per_period")]

    def __str__(self) -> str:
        return f"{self.requests} requests of key {self.api_key_id} since {self.period_start:%Y-%m-%d %H:%M}"


class ManagementCounter(models.Model):
    """A key's requests to Keyhouse's own routes in its current one-minute window, when the
    counter store is the database: one row per key, restarted by the first request of a minute."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, **UNCONSTRAINED)
    window_start = models.BigIntegerField(help_text="Unix time of the window's first second")
    requests = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["api_key"], name="one_management_counter_per_key")]

    def __str__(self) -> str:
        return f"{self.requests} management requests of key {self.api_key_id} in window {self.window_start}"
