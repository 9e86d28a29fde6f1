"""One error shape for the whole API: {"error": {"code", "message", "details"}}.

Services raise ApplicationError subclasses; core.exception_handler turns them, and DRF's
own exceptions, into that shape, so no view builds error JSON by hand.
"""
import json
import re

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.views.debug import SafeExceptionReporterFilter


class ApplicationError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: dict | None = None,
                 headers: dict | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.details = details or {}
        self.headers = headers or {}


class ValidationFailed(ApplicationError):
    code = "validation_error"


class PermissionDenied(ApplicationError):
    status = 403
    code = "permission_denied"


class NotFound(ApplicationError):
    status = 404
    code = "not_found"


class Conflict(ApplicationError):
    status = 409
    code = "conflict"


class Gone(ApplicationError):
    status = 410
    code = "gone"


class ServiceUnavailable(ApplicationError):
    """A store we depend on is down: refuse (fail closed) rather than serve unmetered."""

    status = 503
    code = "service_unavailable"


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_code_of(response) -> str:
    """The code of an error response in the error shape ("" for anything else): from DRF's data
    when the view left it, else from the JSON body."""
    if response.status_code < 400:
        return ""
    data = getattr(response, "data", None)
    if data is None and response.get("Content-Type", "").startswith("application/json"):
        try:
            data = json.loads(response.content)
        except ValueError:
            return ""
    error = data.get("error") if isinstance(data, dict) else None
    return str(error.get("code", ""))[:50] if isinstance(error, dict) else ""


def _wants_json(request) -> bool:
    return request.path.startswith("/api/")


def handler400(request, exception=None):
    """Django's own 400s (a body over DATA_UPLOAD_MAX_MEMORY_SIZE, a bad Host) in the error shape."""
    if _wants_json(request):
        if isinstance(exception, RequestDataTooBig):
            body = error_body("request_too_large", "The request body is too large; send at most "
                              f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes.")
            return JsonResponse(body, status=413)
        return JsonResponse(error_body("bad_request", "The request could not be understood."), status=400)
    from django.views.defaults import bad_request

    return bad_request(request, exception)


def handler404(request, exception=None):
    if _wants_json(request):
        from core.crypto import mask_keys

        path = mask_keys(request.path)  # a key pasted into the URL is not echoed back whole
        message = f"No API route matches {path}."
        if path.endswith("/"):
            message += f" Routes have no trailing slash: try {path.rstrip('/')}"
        return JsonResponse(error_body("not_found", message), status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


class ApiErrorBodyMiddleware:
    """Under /api/ a 404 or 500 is the API's JSON body even with DEBUG on (`make run`): Django's
    debug pages are HTML for people, and they repeat the path, with any key pasted into it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (response.status_code in (404, 500) and _wants_json(request)
                and response.get("Content-Type", "").startswith("text/html")):
            return handler404(request) if response.status_code == 404 else handler500(request)
        return response


def handler500(request):
    if _wants_json(request):
        body = error_body("server_error", "Something went wrong on our side; it has been logged.")
        return JsonResponse(body, status=500)
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
        from core.crypto import KEY_PATTERN

        cleansed = super().cleanse_setting(key, value)
        if isinstance(cleansed, str):
            return KEY_PATTERN.sub(self.cleansed_substitute, cleansed)
        return cleansed
