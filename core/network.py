"""Where a request comes from."""
import functools
import ipaddress
from urllib.parse import urlsplit

from core.hot_settings import hot

# Longer than any address a proxy writes (an IPv6 address with brackets, port and zone id).
CACHED_LENGTH = 96


def ip_parse(value: str) -> str | None:
    """The address in one X-Forwarded-For entry or REMOTE_ADDR, in its canonical form, or None.
    Proxies write "1.2.3.4:5678", "[2001:db8::1]:443" or "fe80::1%eth0"; the port and the zone
    id mean nothing to an allow-list and no database column takes them. Memoised: a keyed
    request reads its client's address twice (restrictions, request log), and a worker sees the
    same few addresses again and again; parsing one costs about 10 µs. Only values of an
    address's length are kept, so a client sending 8 KB headers cannot fill a worker's memory."""
    return _ip_parse_kept(value) if len(value) <= CACHED_LENGTH else _ip_parse(value)


def _ip_parse(value: str) -> str | None:
    value = value.strip()
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    value = value.partition("%")[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    # A dual-stack socket reports an IPv4 client as ::ffff:a.b.c.d; allow-lists name it a.b.c.d.
    return str(getattr(address, "ipv4_mapped", None) or address)


_ip_parse_kept = functools.lru_cache(maxsize=4096)(_ip_parse)


def ip_allowed(ip: str | None, networks) -> bool:
    """Whether a canonical address (ip_parse) lies in one of these networks (CIDR or single
    addresses): one reading of an allow-list for key restrictions and the metrics scrape."""
    if ip is None:
        return False
    address = ipaddress.ip_address(ip)
    return any(address in ipaddress.ip_network(network) for network in networks)


def client_ip(request) -> str | None:
    """REMOTE_ADDR, unless TRUSTED_PROXY_COUNT proxies stand in front of us: then the address
    the outermost of them saw, counted from the right of X-Forwarded-For. Entries further left
    were written by the client and are never trusted, so a forged header cannot widen access.
    An entry that is no address (a client reaching us past the proxy can write anything there)
    falls back to REMOTE_ADDR, the peer we really talk to."""
    remote = ip_parse(request.META.get("REMOTE_ADDR") or "")
    proxies = hot.TRUSTED_PROXY_COUNT
    if proxies:
        forwarded = [part for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= proxies:
            return ip_parse(forwarded[-proxies]) or remote
    return remote


def request_host(request) -> str:
    """The host of the page that made the request, from Origin or else Referer ('' if none)."""
    meta = request.META
    source = meta.get("HTTP_ORIGIN") or meta.get("HTTP_REFERER")
    if not source:  # most API clients send neither (urlsplit costs more than the rest of a log record)
        return ""
    try:
        return (urlsplit(source).hostname or "").lower()[:255]
    except ValueError:
        return ""
