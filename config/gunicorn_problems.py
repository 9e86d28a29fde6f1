"""The API's problem body for the answers gunicorn writes itself, before Django sees a request:
a request line or header it cannot parse (400), a request line over its limit (414), too many
headers or one too long (431), and config.gunicorn_worker's head over 64 KiB (431).

gunicorn writes those as HTML. Here they are problems like every other answer of the API: the
row of core.errors.PROBLEMS gives the title, `type` is the absolute URL of the code on the host
the request named (core.errors.problem_type, from a request made of the head's Host and proxy
headers; a host Keyhouse does not serve gets its first one), and `instance` is the path the
request line named, when it could be read; with no request id yet, that is what names the request.
"""
import json
import re
from http import HTTPStatus

from django.http import HttpRequest

from core.crypto import mask_keys
from core.errors import PROBLEM_CONTENT_TYPE, PROBLEMS, problem_body

CODES = {400: "bad_request", 414: "uri_too_long", 431: "request_header_too_large", 500: "server_error"}
LINE_BREAK = re.compile(rb"\r?\n")
# A path to repeat in `instance`: printable ASCII and not too long (a 414's is the problem).
PRINTABLE_PATH = re.compile(r"/[!-~]{0,1023}")
MAX_HEADER_LINES = 100


def _detail(status: int, cfg) -> str:
    if status == 414:
        return (f"The request line is over {cfg.limit_request_line} bytes: send a shorter path and query string, or "
                "the data in a body.")
    if status == 431:
        return (f"Send at most {cfg.limit_request_fields} headers, each under {cfg.limit_request_field_size} bytes, "
                "and a head under 64 KiB in all.")
    if status == 500:
        return PROBLEMS["server_error"].description
    return "The request line or a header could not be parsed: send a well-formed HTTP/1.1 request."


def head_request(head: bytes, *, secure: bool) -> tuple[HttpRequest, str]:
    """A Django request carrying what problem_type reads (Host, the proxy's scheme and host
    headers), and the path of the request line ("" when it cannot be read), from a raw head
    that may be cut short or malformed."""
    request = HttpRequest()
    request.META.update(SERVER_NAME="", SERVER_PORT="443" if secure else "80")
    request._get_scheme = lambda: "https" if secure else "http"  # type: ignore[attr-defined]  # no WSGI environ here
    lines = LINE_BREAK.split(head)
    for line in lines[1:MAX_HEADER_LINES + 1]:
        name, colon, value = line.decode("latin-1").partition(":")
        if colon and name.strip() and name.isascii():
            request.META.setdefault("HTTP_" + name.strip().upper().replace("-", "_"), value.strip())
    target = lines[0].decode("latin-1").split(" ")
    path = target[1].partition("?")[0] if len(target) == 3 else ""
    return request, mask_keys(path) if PRINTABLE_PATH.fullmatch(path) else ""


def problem_answer(status: int, head: bytes | None, cfg, detail: str | None = None) -> bytes | None:
    """The whole HTTP answer for `status`, or None when no problem code stands for it."""
    code = CODES.get(status)
    if code is None:
        return None
    request, path = head_request(head or b"", secure=cfg.is_ssl)
    body = problem_body(request, code, detail or _detail(status, cfg))
    body["instance"] = path
    data = json.dumps(body, ensure_ascii=False).encode()
    reason = HTTPStatus(status).phrase
    return (b"HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s"
            % (status, reason.encode(), PROBLEM_CONTENT_TYPE.encode(), len(data), data))
