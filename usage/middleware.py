"""Logs every request attributed to a key and adds its remaining quota to the response."""
import time
from datetime import UTC, datetime

from core.crypto import mask_keys
from core.errors import error_code_of
from core.network import client_ip, request_host
from usage.limits import tier_of
from usage.log_writes import LogRecord
from usage.recorder import recorder

USER_AGENT_LENGTH = 255
KEYED_CACHE_CONTROL = "private, no-store"


class UsageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        verification = getattr(request, "key_verification", None)
        if verification is not None:
            # Set for every API request authentication looked at, keyed or signed in: what a
            # caller reads, errors included, is theirs alone, so no shared cache keeps it, and
            # no cache at all keeps a quota or a value shown once.
            response["Cache-Control"] = KEYED_CACHE_CONTROL
        grant = verification and verification.grant
        if grant is None:
            return response
        quota = verification.quota
        if quota is not None and "RateLimit" not in response:
            for name, value in quota.headers().items():
                response[name] = value
        # What the limit check charged; requests it never admitted (401, 403, 429) cost nothing.
        match = request.resolver_match
        tier, cost = verification.charge or (tier_of(match and getattr(match.func, "view_class", match.func)), 0)
        recorder.add(LogRecord(
            api_key_id=grant.key_id,
            company_id=grant.company_id,
            user_id=grant.owner_id,
            created_at=datetime.now(UTC),  # timezone.now() under USE_TZ = True (config.settings), cheaper
            method=request.method[:10],
            # What the client sent is stored with any key in it masked, before it is cut to the
            # column (a cut key would no longer be recognised): a key pasted into the path, the
            # User-Agent or an Origin is never stored, nor shown on the usage pages and admin.
            path=mask_keys(request.path)[:255],
            route=(match.route if match else "")[:150],
            status_code=response.status_code,
            error_code=error_code_of(response),
            latency_ms=round((time.perf_counter() - started) * 1000),
            client_ip=client_ip(request),
            user_agent=mask_keys(request.META.get("HTTP_USER_AGENT", ""))[:USER_AGENT_LENGTH],
            domain=mask_keys(request_host(request)),
            tier=tier,
            cost_microcents=cost,
            request_id=getattr(request, "request_id", ""),
        ))
        return response
