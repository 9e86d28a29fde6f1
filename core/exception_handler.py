"""DRF's EXCEPTION_HANDLER: every exception an API view raises becomes the one error shape."""
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import ApplicationError, error_body

_DRF_CODES = {
    drf.NotAuthenticated: "missing_api_key",
    drf.ParseError: "malformed_request",
    drf.MethodNotAllowed: "method_not_allowed",
    drf.NotAcceptable: "not_acceptable",
    drf.UnsupportedMediaType: "unsupported_media_type",
    drf.PermissionDenied: "permission_denied",
    drf.NotFound: "not_found",
    drf.Throttled: "throttled",
}
MISSING_CREDENTIALS_MESSAGE = (
    "Authentication required: send your API key in the API-Key, X-API-Key or "
    "'Authorization: Bearer' header, or sign in."
)


def _flatten(detail):
    """DRF validation details as plain strings, keyed by field ("non_field_errors" for the rest)."""
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(item) for item in detail]
    return str(detail)


def _first_message(details) -> str:
    if isinstance(details, dict):
        for field, value in details.items():
            message = _first_message(value)
            return message if field in ("non_field_errors", "detail") else f"{field}: {message}"
    if isinstance(details, list) and details:
        return _first_message(details[0])
    return str(details)


def exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status, headers=exc.headers)
    if isinstance(exc, (OperationalError, InterfaceError)):
        return Response(
            error_body("database_unavailable", "The database is unreachable; retry shortly."), status=503
        )
    if isinstance(exc, Http404):
        exc = drf.NotFound("Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: let Django log it and answer 500
    if isinstance(exc, drf.ValidationError):
        details = _flatten(exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail})
        message = "The request is not valid: " + _first_message(details)
        response.data = error_body("validation_error", message, details)
        return response

    code = _DRF_CODES.get(type(exc))
    if isinstance(exc, drf.AuthenticationFailed):
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else "invalid_api_key"
    message = str(exc.detail) if not isinstance(exc, drf.NotAuthenticated) else MISSING_CREDENTIALS_MESSAGE
    if isinstance(exc, drf.ParseError):
        message = f"The request body is not valid JSON: {exc.detail}"
    response.data = error_body(code or "error", message, getattr(exc, "details", None))
    return response


