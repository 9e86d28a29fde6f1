"""One id per request, so a customer's complaint can be traced to one log line and one row of
the request log: taken from X-Request-Id when the caller or the proxy sent a sane one, made up
otherwise, echoed in the response, added to every log line written while the request runs."""
import logging
import os
import re
from contextvars import ContextVar

from core.crypto import KEY_PATTERN

HEADER = "X-Request-Id"
# What a proxy or a client would send (a UUID, a hex or base64 token), and nothing that could
# forge a log line or fill a column.
SANE_ID = re.compile(r"[A-Za-z0-9._:-]{8,64}")
current = ContextVar("request_id", default="")


def new_id() -> str:
    """32 random hex digits, as nginx's $request_id: uuid.uuid4().hex costs several times more
    (most of it building a UUID that is thrown away), on every request."""
    return os.urandom(16).hex()


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        sent = request.headers.get(HEADER, "")
        # A key fits the pattern; sent here by mistake, it would be stored on the log row.
        sane = SANE_ID.fullmatch(sent) and not KEY_PATTERN.search(sent)
        request.request_id = sent if sane else new_id()
        token = current.set(request.request_id)
        try:
            response = self.get_response(request)
        finally:
            current.reset(token)
        response[HEADER] = request.request_id
        return response


class RequestIdFilter(logging.Filter):
    """Adds request_id to every record ("" outside a request). Django logs a 4xx or 5xx after
    the middleware has returned, with the request attached: its id is taken from there."""

    def filter(self, record):
        record.request_id = current.get() or getattr(getattr(record, "request", None), "request_id", "")
        return True
