"""No log line carries an API key whole.

A key pasted into a URL path reaches Django's "Not Found: <path>" warning, runserver's request
lines and gunicorn's access log; one in an exception message reaches its traceback.
KeyMaskingFilter sits on every handler (settings LOGGING, config/gunicorn_conf.py) and rewrites
each record before it is written: the message is formatted with its arguments first, so a key
passed as an argument is caught too, then every key becomes its masked display prefix.
"""
import logging

from django.views.debug import ExceptionReporter
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from core.crypto import mask_keys


class KeyMaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the message: keep both, masked, as text
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = mask_keys(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_keys(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_keys(record.stack_info)
        return True


class KeyMaskingJsonFormatter(JsonFormatter):
    """JSON lines (LOG_FORMAT=json). A record's extra attributes become fields, and those are
    not the message the filter masked: so the whole line is masked once more, and Django's
    request object (whose repr carries the path) is left out; the message names the path."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, reserved_attrs=[*RESERVED_ATTRS, "request"], **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        return mask_keys(super().format(record))


class KeyMaskingExceptionReporter(ExceptionReporter):
    """Django's error report (the mail to ADMINS, the DEBUG page) quotes the request URL and the
    exception as they are; core.errors.SecretsExceptionReporterFilter only cleans settings,
    headers and variables. The whole report is masked, so neither can carry a key."""

    def get_traceback_text(self):
        return mask_keys(super().get_traceback_text())

    def get_traceback_html(self):
        return mask_keys(super().get_traceback_html())
