"""A lean middleware stack for keyed API calls: the browser's middleware step aside for them.

A request to /api/v1/ that carries no session cookie can only be authenticated by a key (DRF's
SessionAuthentication finds no user without a session), so it has no use for a session, a
signed-in user or messages: those middleware skip themselves for it (docs/benchmarks.md). A
request with the session cookie, a page, the API docs and everything outside /api/v1/ go
through them as before. Django's CSRF middleware stays as it is (`check --deploy` wants it by
name, and on a DRF view it costs a cookie lookup): a signed-in browser's API writes keep their
CSRF check, which SessionAuthentication enforces. The Content-Security-Policy header stays on every response; its
value, which depends only on the settings unless a view customises it, is built once.
"""
from csp import middleware as csp
from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.core.signals import setting_changed

from core.hot_settings import hot

KEYED_API_PREFIX = "/api/v1/"


def is_keyed_api(request) -> bool:
    return request.path_info.startswith(KEYED_API_PREFIX) and hot.SESSION_COOKIE_NAME not in request.COOKIES


class SkippedForKeyedApi:
    """Both entry points: under ASGI, Sentry's middleware wrapper calls `__acall__` directly."""

    def __call__(self, request):
        if is_keyed_api(request):
            return self.get_response(request)
        return super().__call__(request)

    async def __acall__(self, request):
        if is_keyed_api(request):
            return await self.get_response(request)
        return await super().__acall__(request)


class SessionMiddleware(SkippedForKeyedApi, sessions.SessionMiddleware):
    pass


class AuthenticationMiddleware(SkippedForKeyedApi, auth.AuthenticationMiddleware):
    pass


class MessageMiddleware(SkippedForKeyedApi, messages.MessageMiddleware):
    pass


# What a view can attach to its response to change the policy (django-csp's decorators).
CSP_CUSTOMISED = ("_csp_config", "_csp_update", "_csp_replace", "_csp_config_ro", "_csp_update_ro",
                  "_csp_replace_ro", "_csp_exempt", "_csp_exempt_ro")
_built: dict = {}
setting_changed.connect(lambda **kwargs: _built.clear(), weak=False)


def _excludes_some_urls() -> bool:
    return any((getattr(settings, name, None) or {}).get("EXCLUDE_URL_PREFIXES")
               for name in ("CONTENT_SECURITY_POLICY", "CONTENT_SECURITY_POLICY_REPORT_ONLY"))


class CSPMiddleware(csp.CSPMiddleware):
    """django-csp's, with the policy of a response no view customised built once per setting."""

    def process_response(self, request, response):
        if (not is_keyed_api(request) or settings.DEBUG or getattr(request, "_csp_nonce", None) is not None
                or any(hasattr(response, name) for name in CSP_CUSTOMISED) or _excludes_some_urls()):
            return super().process_response(request, response)
        if not _built:
            parts = {report_only: csp.build_policy(**csp.asdict(self.get_policy_parts(request, response, report_only)),
                                                   report_only=report_only)
                     for report_only in (False, True)}
            _built.update({csp.HEADER: parts[False], csp.HEADER_REPORT_ONLY: parts[True]})
        for header, value in _built.items():
            if value and header not in response:
                response[header] = value
        return response
