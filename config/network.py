"""Where a request comes from."""
from urllib.parse import urlsplit

from django.conf import settings


def client_ip(request) -> str | None:
    """REMOTE_ADDR, unless TRUSTED_PROXY_COUNT proxies stand in front of us: then the address
    the outermost of them saw, counted from the right of X-Forwarded-For. Entries further left
    were written by the client and are never trusted, so a forged header cannot widen access."""
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR") or None


def request_host(request) -> str:
    """The host of the page that made the request, from Origin or else Referer ('' if none)."""
    source = request.headers.get("Origin") or request.headers.get("Referer") or ""
    try:
        return (urlsplit(source).hostname or "").lower()[:255]
    except ValueError:
        return ""
