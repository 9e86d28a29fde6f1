"""/healthz (the process answers), /readyz (what it needs answers too) and /metrics."""
import hmac
import os
import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from core.errors import problem_response
from core.network import client_ip, ip_allowed
from keys import cache as key_cache
from usage.recorder import recorder

LISTENER_WAIT_SECONDS = 1.0  # a worker's listener subscribes within milliseconds of its first use


@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _cache() -> str:
    cache.get("keyhouse:readyz")
    return "ok"


def _writer() -> str:
    return "ok" if recorder.alive() else "stopped: the request log is not being written"


def _listener() -> str:
    if not (key_cache.cache_is_shared() and settings.API_KEY_LOCAL_SECONDS > 0):
        return "ok"  # no copies to drop: nothing to listen for
    deadline = time.monotonic() + LISTENER_WAIT_SECONDS
    while not key_cache.listening():
        if time.monotonic() > deadline:
            return "not subscribed: key changes would reach this worker only when its copies expire"
        time.sleep(0.05)
    return "ok"


@require_GET
def readyz(request):
    checks = {}
    for name, check in (("database", _database), ("cache", _cache), ("request_log_writer", _writer),
                        ("invalidation_listener", _listener)):
        try:
            checks[name] = check()
        except Exception as error:  # what is wrong is the answer, not a 500
            checks[name] = f"unavailable: {type(error).__name__}"
    ready = all(state == "ok" for state in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)


def _may_scrape(request) -> bool:
    token = settings.METRICS_TOKEN
    scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(), token.encode()):
        return True
    return ip_allowed(client_ip(request), settings.METRICS_ALLOWED_IPS)


@require_GET
def metrics(request):
    if not (settings.METRICS_TOKEN or settings.METRICS_ALLOWED_IPS):
        return problem_response(request, "not_found", "Metrics are off: set METRICS_TOKEN or METRICS_ALLOWED_IPS.")
    if not _may_scrape(request):
        return problem_response(request, "metrics_forbidden", "Send the metrics token as 'Authorization: Bearer "
                                "<METRICS_TOKEN>', or scrape from an address in METRICS_ALLOWED_IPS.")
    registry = REGISTRY
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:  # every gunicorn worker's values, added up
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
