"""Where a request comes from."""


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None
