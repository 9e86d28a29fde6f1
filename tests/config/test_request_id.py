"""X-Request-Id: taken or made, echoed, on every log line of the request and on its log row."""
import io
import json
import logging

import pytest

from tests.clients import key_client
from usage.models import RequestLog

pytestmark = pytest.mark.django_db


def test_a_sane_request_id_is_kept_echoed_and_stored(alice_key):
    key, raw = alice_key
    response = key_client(raw).get("/api/v1/me", HTTP_X_REQUEST_ID="req-3f2a9c71-support-case")
    assert response["X-Request-Id"] == "req-3f2a9c71-support-case"
    assert RequestLog.objects.get().request_id == "req-3f2a9c71-support-case"
    listed = key_client(raw).get(f"/api/v1/api-keys/{key.pk}/usage/requests").json()["items"]
    assert "req-3f2a9c71-support-case" in [item["request_id"] for item in listed]


@pytest.mark.parametrize("sent", ["", "short", "x" * 65, "evil\r\nline", "spaces are not ids", "ünïcode-id-123"])
def test_anything_else_is_replaced_by_an_id_of_our_own(alice_key, sent):
    response = key_client(alice_key[1]).get("/api/v1/me", HTTP_X_REQUEST_ID=sent)
    made = response["X-Request-Id"]
    assert made != sent and len(made) == 32 and int(made, 16) >= 0
    assert RequestLog.objects.get().request_id == made


def test_a_key_sent_as_the_request_id_is_neither_kept_nor_echoed(alice_key):
    key, raw = alice_key
    response = key_client(raw).get("/api/v1/me", HTTP_X_REQUEST_ID=raw)
    assert response.status_code == 200 and response["X-Request-Id"] != raw
    assert raw not in RequestLog.objects.get().request_id


def test_every_log_line_of_a_request_carries_its_id(client, caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get("/api/v1/no-such-thing", HTTP_X_REQUEST_ID="trace-me-please-42")
    assert response.status_code == 404 and response["X-Request-Id"] == "trace-me-please-42"
    assert [r.request_id for r in caplog.records if r.name == "django.request"] == ["trace-me-please-42"]


def test_json_log_lines_carry_the_request_id_and_no_key(client, alice_key):
    """The console handler as production configures it (LOG_FORMAT=json), on a request that logs."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    from core.logging import KeyMaskingFilter
    from core.request_id import RequestIdFilter

    formatter = settings.LOGGING["formatters"]["json"]
    options = {k: v for k, v in formatter.items() if k != "()"}
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(import_string(formatter["()"])(**options))
    handler.addFilter(KeyMaskingFilter())
    handler.addFilter(RequestIdFilter())
    logging.getLogger("django.request").addHandler(handler)
    try:
        key_client(alice_key[1]).get(f"/api/v1/nothing-here/{alice_key[1]}", HTTP_X_REQUEST_ID="json-line-id-1")
    finally:
        logging.getLogger("django.request").removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 1
    assert lines[0]["request_id"] == "json-line-id-1" and lines[0]["levelname"] == "WARNING"
    assert "Not Found" in lines[0]["message"] and "timestamp" in lines[0]
    assert alice_key[1] not in stream.getvalue()
