"""Prometheus metrics (prometheus_client). Under gunicorn every worker writes its values to
files in PROMETHEUS_MULTIPROC_DIR (set by config/gunicorn_conf.py before this is imported) and
/metrics adds them up; anywhere else they live in the process."""
import functools
import time

from prometheus_client import Counter, Gauge, Histogram

from core.errors import error_code_of

KEY_VERIFICATIONS = Counter("keyhouse_key_verifications", "Keys presented, by what was decided", ["outcome"])
REQUEST_SECONDS = Histogram("keyhouse_request_duration_seconds", "Time to answer a request, in the app",
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
REFUSALS = Counter("keyhouse_refusals", "Requests answered 429 or 503, by status and error code",
                   ["status", "code"])
KEY_CACHE_LOOKUPS = Counter("keyhouse_key_cache_lookups", "Verified-key lookups: a worker's own copy, the "
                            "shared cache (Redis), or a miss (the database)", ["result"])
USAGE_RECORDS = Counter("keyhouse_usage_records", "Request-log records by fate: written, set aside (refused "
                        "by the database) or dropped (backlog full)", ["fate"])
USAGE_BACKLOG = Gauge("keyhouse_usage_backlog", "Request-log records waiting to be written",
                      multiprocess_mode="livesum")
USAGE_FLUSH_SECONDS = Histogram("keyhouse_usage_flush_duration_seconds", "Time to write one batch of the request log")
INVALIDATION_TIMEOUTS = Counter("keyhouse_invalidation_ack_timeouts", "Key changes some worker did not confirm in time")


@functools.lru_cache(maxsize=1024)
def labelled(metric, *values: str):
    """metric.labels(*values), kept: labels() takes the metric's lock and builds its key on every
    call (about 3 µs, several times a keyed request); the child it returns is the same object
    every time, and counts for whichever process increments it (prometheus_client follows a fork)."""
    return metric.labels(*values)


# Statuses whose reasons operators watch: refused for a limit, or a store down.
WATCHED_STATUSES = {429, 503}


class MetricsMiddleware:
    """Times every request and counts the outcome of every key presented; the verification is
    the one the request kept (keys.authentication), after restrictions and limits."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        REQUEST_SECONDS.observe(time.perf_counter() - started)
        verification = getattr(request, "key_verification", None)
        if verification is not None and verification.status != "missing":
            labelled(KEY_VERIFICATIONS, verification.status).inc()
        if response.status_code in WATCHED_STATUSES:
            labelled(REFUSALS, str(response.status_code), error_code_of(response)).inc()
        return response
