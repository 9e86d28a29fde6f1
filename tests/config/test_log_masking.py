"""A key pasted into a URL path reaches no log line and no 404 body whole:
Django's "Not Found: <path>", gunicorn's access log and handler404's message show it as its
masked display prefix (sk_live_AbCd…), the way the dashboard does."""
import io
import logging
import time

import pytest
from django.conf import settings
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.utils.log import log_response

from core import crypto
from tests.clients import problem
from tests.live import live_gunicorn

pytestmark = pytest.mark.django_db


def masked(raw: str) -> str:
    return raw[: len(crypto.LIVE_PREFIX) + crypto.VISIBLE_CHARS] + "…"


@pytest.fixture
def console():
    """What the root logger's handlers (settings.LOGGING's console) write during the test."""
    written = io.StringIO()
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)
                and type(h).__module__ == "logging"]
    assert handlers, "settings.LOGGING configures no console handler"
    streams = [h.setStream(written) for h in handlers]
    yield written
    for handler, stream in zip(handlers, streams, strict=True):
        handler.setStream(stream)


@pytest.mark.parametrize("path, kind", [("/api/v1/{raw}", "json"), ("/api/v1/{raw}/", "json"), ("/{raw}", "html"),
                                        ("/settings/x{raw}y", "html")])
def test_a_key_in_the_path_is_masked_in_the_404_and_its_log_line(path, kind, alice_key, console, caplog):
    _, raw = alice_key
    response = Client().get(path.format(raw=raw))
    assert response.status_code == 404
    body = response.content.decode()
    assert raw not in body
    if kind == "json":
        message = response.json()["detail"]
        assert message.startswith(f"No API route matches /api/v1/{masked(raw)}"), message
    logged = console.getvalue()
    assert "Not Found: " in logged and masked(raw) in logged, logged
    assert raw not in logged
    assert all(raw not in record.getMessage() for record in caplog.records)


def test_a_key_passed_as_an_argument_or_in_a_traceback_is_masked(alice_key, console):
    _, raw = alice_key
    log = logging.getLogger("keyhouse.test")
    log.warning("client sent %s", raw)
    try:
        raise ValueError(f"bad token {raw}")
    except ValueError:
        log.exception("while reading %s", {"token": raw})
    logged = console.getvalue()
    assert logged.count(masked(raw)) == 3, logged
    assert raw not in logged


def test_a_record_whose_arguments_do_not_fit_its_message_is_masked_too(alice_key):
    from core.logging import KeyMaskingFilter

    _, raw = alice_key
    record = logging.LogRecord("keyhouse.test", logging.WARNING, __file__, 1, "sent %s and %(nothing)s", (raw,), None)
    assert KeyMaskingFilter().filter(record)
    assert raw not in record.getMessage() and masked(raw) in record.getMessage()


def test_every_handler_django_logs_through_masks_keys():
    from core.logging import KeyMaskingFilter

    assert all("mask_keys" in handler.get("filters", []) for handler in settings.LOGGING["handlers"].values())
    for name in ("", "django", "django.request", "django.server", "django.security.csrf", "keys.cache"):
        logger = logging.getLogger(name)
        while logger:
            for handler in logger.handlers:
                if type(handler).__module__ != "_pytest.logging":
                    assert any(isinstance(f, KeyMaskingFilter) for f in handler.filters), (name, handler)
            logger = logger.parent if logger.propagate else None


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with live_gunicorn(tmp_path_factory.mktemp("gunicorn-log"), workers=1) as live:
        yield live


def test_gunicorn_access_log_shows_a_key_in_the_path_masked(server):
    """The harness writes gunicorn's stdout (the access log, accesslog = "-") and stderr (its
    error log and Django's console) to one file."""
    raw = crypto.generate_key("live")
    status, _, body = server.request("GET", f"/api/v1/{raw}")
    assert status == 404 and raw not in str(body)
    access_line = f'"GET /api/v1/{masked(raw)}" 404'
    log_file = server.log_path
    deadline = time.monotonic() + 10
    while access_line not in log_file.read_text(errors="replace") and time.monotonic() < deadline:
        time.sleep(0.1)
    log = log_file.read_text(errors="replace")
    assert access_line in log, log[-2000:]
    assert f"Not Found: /api/v1/{masked(raw)}" in log, log[-2000:]  # Django's warning, on stderr
    assert raw not in log


def test_the_error_mail_of_a_crash_on_a_url_with_a_key_masks_it(settings, alice_key, mailoutbox):
    """A 500 is mailed to ADMINS with Django's report, which quotes the request URL."""
    settings.DEBUG, settings.ADMINS = False, [("Ops", "ops@example.com")]
    _, raw = alice_key
    request = RequestFactory().get(f"/api/v1/{raw}/usage", HTTP_REFERER=f"https://example.com/{raw}")
    try:
        raise RuntimeError("database went away")
    except RuntimeError as crash:  # what Django's handler logs for an exception in a view
        log_response("Internal Server Error: %s", request.path, response=HttpResponse(status=500), request=request,
                     exception=crash)
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    everything = mail.subject + mail.body + "".join(str(content) for content, _ in mail.alternatives)
    assert "database went away" in everything and masked(raw) in mail.subject and masked(raw) in mail.body
    assert raw not in everything


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/{key}", "/api/v1/api-keys/not-a-uuid/{key}"])
def test_with_debug_on_an_api_404_is_the_json_body_and_masks_the_key(settings, alice_key, path):
    """make run serves with DEBUG on, whose HTML 404 page repeated the whole key three times."""
    settings.DEBUG = True
    _, raw = alice_key
    response = Client().get(path.format(key=raw))
    assert response.status_code == 404 and problem(response)["code"] == "not_found"
    assert raw not in response.content.decode()
    assert raw[:12] + "…" in response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [True, False])
def test_api_itself_is_an_api_404_not_a_page(settings, alice_key, debug):
    """/api without its slash was a page: with DEBUG on (make run) Django's, repeating the query
    string with any key in it."""
    settings.DEBUG = debug
    _, raw = alice_key
    response = Client().get(f"/api?x={raw}")
    assert response.status_code == 404 and problem(response)["code"] == "not_found"
    assert raw[12:] not in response.content.decode()
