"""DRF's EXCEPTION_HANDLER: every exception an API view raises becomes one problem response
(core.errors), its status and title from the code's row of core.errors.PROBLEMS."""
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import (
    PROBLEMS,
    UNREADABLE_REQUEST,
    ApplicationError,
    application_error_response,
    field_error,
    json_pointer,
    problem_response,
    unreadable_request_response,
)

_DRF_CODES = {
    drf.NotAuthenticated: "missing_api_key",
    drf.AuthenticationFailed: "invalid_api_key",
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


def _pointer_errors(detail, path=()) -> list[dict]:
    """DRF's nested validation details ({"scopes": {"0": ["..."]}}) as one flat list of
    {pointer, detail}; non_field_errors point at the object they are about."""
    if isinstance(detail, dict):
        return [error for key, value in detail.items()
                for error in _pointer_errors(value, path if key == "non_field_errors" else (*path, key))]
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            return [{"pointer": json_pointer(*path), "detail": str(item)} for item in detail]
        return [error for index, item in enumerate(detail) for error in _pointer_errors(item, (*path, index))]
    return [{"pointer": json_pointer(*path), "detail": str(detail)}]


def _django_errors(exc: DjangoValidationError) -> tuple[str, list[dict]]:
    """A service's ValidationError as the problem's code and `errors`: one entry per message,
    pointing at its field. The code is the first error code that is a 400 row of PROBLEMS
    (`invalid_restriction`, `policy_violation`), else `validation_error`."""
    fields = exc.error_dict.items() if hasattr(exc, "error_dict") else [("__all__", exc.error_list)]
    found = [(field, error) for field, errors in fields for error in errors]
    errors = [field_error(field, message) for field, error in found for message in error.messages]
    code = next((error.code for _, error in found if error.code in PROBLEMS and PROBLEMS[error.code].status == 400),
                "validation_error")
    return code, errors


def _invalid(request, errors: list[dict], code: str = "validation_error"):
    first = errors[0] if errors else {"pointer": "", "detail": "invalid"}
    where = first["pointer"].lstrip("/")
    message = "The request is not valid: " + (f"{where}: " if where else "") + first["detail"]
    return problem_response(request, code, message, errors=errors)


def exception_handler(exc, context):
    request = context["request"]
    if isinstance(exc, ApplicationError):
        return application_error_response(request, exc)
    if isinstance(exc, UNREADABLE_REQUEST):
        # Answered here, not left to Django's handler400: with DEBUG on, DRF would first look
        # for the renderer its content negotiation never chose (it reads the query string too).
        return unreadable_request_response(request, exc)
    if isinstance(exc, (OperationalError, InterfaceError)):
        return problem_response(request, "database_unavailable", "The database is unreachable; retry shortly.")
    if isinstance(exc, DjangoValidationError):
        code, errors = _django_errors(exc)
        return _invalid(request, errors, code)
    if isinstance(exc, Http404):
        exc = drf.NotFound("Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()

    response = drf_exception_handler(exc, context)  # for its headers: WWW-Authenticate, Retry-After
    if response is None:
        return None  # a real bug: let Django log it and answer 500
    headers = {name: value for name, value in response.items() if name in ("WWW-Authenticate", "Retry-After", "Allow")}
    if isinstance(exc, drf.ValidationError):
        detail = exc.detail if isinstance(exc.detail, (dict, list)) else [exc.detail]
        return _invalid(request, _pointer_errors(detail))
    message = str(exc.detail) if not isinstance(exc, drf.NotAuthenticated) else MISSING_CREDENTIALS_MESSAGE
    if isinstance(exc, drf.ParseError):
        message = f"The request body is not valid JSON: {exc.detail}"
    code = next((code for kind, code in _DRF_CODES.items() if isinstance(exc, kind)), "bad_request")
    return problem_response(request, code, message, headers=headers)
