"""One error shape for the whole API: RFC 9457 problem details (application/problem+json).

Every code the server sends is a row of PROBLEMS, read from core/problems.toml: its status,
a title and what to do. The exception handler, the middleware-level handlers below, the
/api/problems/<code> pages and the OpenAPI schema (core.schema) all read that one table, so
they cannot disagree.

A problem is {type, title, status, detail, instance, code} plus, for invalid input, `errors`:
[{"pointer": "/field", "detail"}] for a body field (a JSON Pointer, RFC 6901), or
[{"parameter": "days", "detail"}] / [{"header": "X-Organization-Id", "detail"}] for a query
parameter or a header, as RFC 9457's own examples name them. Any other context is an extension
member at the top level (`extra=`), e.g. `violated-policies` on a 429.
"""
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import (
    DisallowedHost,
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
    ValidationError,
)
from django.http import JsonResponse
from django.views.debug import SafeExceptionReporterFilter

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_PATH = "/api/problems/"


@dataclass(frozen=True)
class Problem:
    status: int
    title: str
    description: str  # what it means and what to do, on the problem's page and in the schema
    type_uri: str = ""  # a registered problem type, when one says it; else Keyhouse's own page


def _catalogue() -> dict[str, Problem]:
    """The codes, in the order of core/problems.toml (by status: the schema lists them so).
    A row with a key Problem does not have fails at import, not on the first such error."""
    with Path(__file__).with_name("problems.toml").open("rb") as file:
        return {code: Problem(**row) for code, row in tomllib.load(file).items()}


PROBLEMS: dict[str, Problem] = _catalogue()


def codes_by_status() -> dict[int, list[str]]:
    """The codes each HTTP status can carry, for the schema."""
    found: dict[int, list[str]] = {}
    for code, problem in PROBLEMS.items():
        found.setdefault(problem.status, []).append(code)
    return found


class ApplicationError(Exception):
    """An error a service raises for what is not bad input: its status is its code's row of
    PROBLEMS (403, 404, 409, 429, 503). Bad input in a body is Django's ValidationError, with
    field keys and codes (core.exception_handler); a query parameter or header, BadParameter.

    `errors` gives ready `errors` entries; `extra` adds extension members at the top level of
    the problem (`{"companies": [...]}`, `{"violated-policies": ...}`).
    """

    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, errors: list[dict] | None = None,
                 extra: dict | None = None, headers: dict | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.status = PROBLEMS[self.code].status
        self.errors = list(errors or [])
        self.extra = extra or {}
        self.headers = headers or {}


class BadParameter(ApplicationError):
    """A query parameter or header the API cannot read: its `errors` entry names it as one
    ({"parameter": "days"} or {"header": "X-Organization-Id"}), where a body field has a pointer."""

    code = "validation_error"

    def __init__(self, message: str, *, name: str, detail: str | None = None, where: str = "parameter",
                 code: str | None = None, errors: list[dict] | None = None):
        super().__init__(message, code=code, errors=errors or [{where: name, "detail": detail or message}])


class Forbidden(ApplicationError):
    """403. Not named PermissionDenied, which is Django's (django.core.exceptions)."""

    code = "permission_denied"


class NotFound(ApplicationError):
    code = "not_found"


class Gone(ApplicationError):
    code = "key_not_recoverable"


class Conflict(ApplicationError):
    """Needs a code of its own: what conflicts is what a script branches on."""


class ServiceUnavailable(ApplicationError):
    """A store we depend on is down: refuse (fail closed) rather than serve unmetered."""

    code = "database_unavailable"


def invalid(field: str, message: str, code: str = "invalid") -> ValidationError:
    """Bad input in one field, as Django's forms and admin take it and core.exception_handler
    answers it; a code that is a 400 row of PROBLEMS (`policy_violation`) is the problem's code."""
    return ValidationError({field: ValidationError(message, code=code)})


def json_pointer(*parts) -> str:
    """RFC 6901: "/" before each part, "~" and "/" inside a part escaped."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def field_error(field: str, detail: str) -> dict:
    """An `errors` entry for a body field; the whole body (Django's __all__, DRF's
    non_field_errors) is the empty pointer."""
    whole = field in ("__all__", "non_field_errors")
    return {"pointer": "" if whole else json_pointer(field), "detail": detail}


def problem_type(request, code: str) -> str:
    """The registered type the code's row names, else the absolute URL documenting `code`, on the
    host the request came to; a request refused for its Host header gets the first host Keyhouse
    serves instead."""
    if code in PROBLEMS and PROBLEMS[code].type_uri:
        return PROBLEMS[code].type_uri
    try:
        return request.build_absolute_uri(PROBLEM_PATH + code)
    except DisallowedHost:
        host = next((host for host in settings.ALLOWED_HOSTS if host[:1] not in (".", "*")), "localhost")
        return f"{request.scheme}://{host}{PROBLEM_PATH}{code}"


def problem_body(request, code: str, detail: str, *, errors: list[dict] | None = None,
                 extra: dict | None = None) -> dict:
    from core.request_id import current

    problem = PROBLEMS[code]
    body = {**(extra or {}), "type": problem_type(request, code), "title": problem.title, "status": problem.status,
            "detail": detail, "instance": getattr(request, "request_id", "") or current.get(), "code": code}
    if errors:
        body["errors"] = errors
    return body


def problem_response(request, code: str, detail: str, *, errors: list[dict] | None = None,
                     extra: dict | None = None, headers: dict | None = None) -> JsonResponse:
    """The one error response of the API. A plain JsonResponse, not a DRF Response, so no
    renderer of the view (the schema view's YAML, for one) ever writes an error."""
    response = JsonResponse(problem_body(request, code, detail, errors=errors, extra=extra),
                            status=PROBLEMS[code].status, content_type=PROBLEM_CONTENT_TYPE,
                            json_dumps_params={"ensure_ascii": False})
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def application_error_response(request, error: ApplicationError) -> JsonResponse:
    return problem_response(request, error.code, error.message, errors=error.errors, extra=error.extra,
                            headers=error.headers)


def error_code_of(response) -> str:
    """The code of a problem response ("" for anything else), for the request log and metrics."""
    if response.status_code < 400:
        return ""
    content_type = response.get("Content-Type", "")
    if not content_type.startswith((PROBLEM_CONTENT_TYPE, "application/json")):
        return ""
    try:
        data = json.loads(response.content)
    except ValueError:
        return ""
    return str(data.get("code", ""))[:50] if isinstance(data, dict) else ""


def wants_json(request) -> bool:
    # A client whose base URL ends in a slash asks for //api/v1/...: still the API's answer.
    path = "/" + request.path.lstrip("/")
    return path == "/api" or path.startswith("/api/")


# What Django raises when it cannot read a request within its limits.
UNREADABLE_REQUEST = (RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent)


def unreadable_request_response(request, exception=None) -> JsonResponse:
    """The problem for a request Django could not read (UNREADABLE_REQUEST) or understand."""
    if isinstance(exception, RequestDataTooBig):
        return problem_response(request, "request_too_large", "The request body is too large; send at most "
                                f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes.")
    if isinstance(exception, TooManyFieldsSent):
        return problem_response(request, "bad_request", "The request has too many query parameters or form "
                                f"fields; send at most {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS:,}.")
    if isinstance(exception, TooManyFilesSent):
        return problem_response(request, "bad_request", "The request has too many files; send at most "
                                f"{settings.DATA_UPLOAD_MAX_NUMBER_FILES:,}.")
    return problem_response(request, "bad_request", "The request could not be understood.")


def handler400(request, exception=None):
    """Django's own 400s (a body over DATA_UPLOAD_MAX_MEMORY_SIZE, a bad Host) as problems."""
    if wants_json(request):
        return unreadable_request_response(request, exception)
    from django.views.defaults import bad_request

    return bad_request(request, exception)


def handler404(request, exception=None):
    if wants_json(request):
        from core.crypto import mask_keys

        path = mask_keys(request.path)  # a key pasted into the URL is not echoed back whole
        message = f"No API route matches {path}."
        if path.endswith("/"):
            message += f" Routes have no trailing slash: try {path.rstrip('/')}"
        return problem_response(request, "not_found", message)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


class ApiErrorBodyMiddleware:
    """Under /api/ a 400, 404, 405 or 500 is a problem even with DEBUG on (`make run`): Django's
    debug pages are HTML for people, and they repeat the path, with any key pasted into it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (response.status_code in (400, 404, 405, 500) and wants_json(request)
                and not response.get("Content-Type", "").startswith(PROBLEM_CONTENT_TYPE)):
            if response.status_code == 400:  # DEBUG's page for a body too large or a bad Host
                length = request.META.get("CONTENT_LENGTH", "")
                too_large = length.isascii() and length.isdigit() and int(length) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
                return handler400(request, RequestDataTooBig() if too_large else None)
            if response.status_code == 404:
                return handler404(request)
            if response.status_code == 405:
                return problem_response(request, "method_not_allowed", f"{request.method} is not allowed here.",
                                        headers={"Allow": response["Allow"]} if response.has_header("Allow") else {})
            return handler500(request)
        return response


def handler500(request):
    if wants_json(request):
        return problem_response(request, "server_error", "Something went wrong on our side; it has been logged.")
    from django.views.defaults import server_error

    return server_error(request)


class SecretsExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django's filter hides META entries named like API/KEY/TOKEN; Authorization is not. A key
    can also travel where no name gives it away (a Referer URL, a cookie we never read), so any
    value that contains one is masked too."""

    hidden_settings = re.compile(
        SafeExceptionReporterFilter.hidden_settings.pattern + "|AUTHORIZATION", flags=re.I
    )

    def cleanse_setting(self, key, value):
        from core.crypto import KEY_FRAGMENT_PATTERN

        cleansed = super().cleanse_setting(key, value)
        if isinstance(cleansed, str):
            return KEY_FRAGMENT_PATTERN.sub(self.cleansed_substitute, cleansed)
        return cleansed
