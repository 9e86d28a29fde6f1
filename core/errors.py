"""One error shape for the whole API: RFC 9457 problem details (application/problem+json).

Every code the server sends is a row of PROBLEMS: its status, a title and what to do. The
exception handler, the middleware-level handlers below, the /api/problems/<code> pages and
the OpenAPI schema (core.schema) all read that one table, so they cannot disagree.

A problem is {type, title, status, detail, instance, code} plus, for invalid input, `errors`:
[{"pointer": "/field", "detail"}] for a body field (a JSON Pointer, RFC 6901), or
[{"parameter": "days", "detail"}] / [{"header": "X-Organization-Id", "detail"}] for a query
parameter or a header, as RFC 9457's own examples name them. Any other context is an extension
member at the top level (`extra=`), e.g. `violated-policies` on a 429.
"""
import json
import re
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import DisallowedHost, RequestDataTooBig, ValidationError
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


# The RateLimit header fields draft registers this type for a quota a request went past, with
# `violated-policies` naming the policies of the RateLimit-Policy field it broke.
QUOTA_EXCEEDED = "https://iana.org/assignments/http-problem-types#quota-exceeded"


_RETRY = "Retry after the time in the Retry-After header, or shortly."
PROBLEMS: dict[str, Problem] = {
    # 400: the request itself is wrong; sending it again unchanged fails again.
    "bad_request": Problem(400, "Bad request", "The request could not be understood; check its headers."),
    "malformed_request": Problem(400, "Malformed request", "The body is not valid JSON; send a JSON document."),
    "validation_error": Problem(400, "Invalid input", "A field, parameter or header is not valid; `errors` "
                                "names each one and says what is expected."),
    "invalid_pagination": Problem(400, "Invalid page parameter", "`page` and `page_size` are whole numbers of at "
                                  "least 1, in digits 0-9."),
    "invalid_cursor": Problem(400, "Invalid cursor", "`cursor` is the `next` of the previous page of the same list, "
                              "sent with the same filters; leave it out to start from the newest item."),
    "invalid_days": Problem(400, "Invalid days parameter", "`days` is a whole number from 1 to 365."),
    "invalid_organization": Problem(400, "Invalid X-Organization-Id", "X-Organization-Id is a company id: a whole "
                                    "number of at least 1."),
    "organization_required": Problem(400, "Company required", "You belong to several companies: name one with the "
                                     "X-Organization-Id header (`companies` lists them)."),
    "invalid_restriction": Problem(400, "Invalid restriction", "An allowed IP, referrer or scope is not valid; "
                                   "`errors` names the field."),
    "policy_violation": Problem(400, "Against the key policy", "The company's key policy requires an expiry, or a "
                                "nearer one; ask an owner, or choose an earlier `expires_at`."),
    "invalid_role": Problem(400, "Invalid role", "A role is owner, admin or member."),
    "weak_password": Problem(400, "Weak password", "Choose a longer, less common password."),
    "api_key_in_query": Problem(400, "API key in the URL", "API keys go in a header (API-Key, X-API-Key or "
                                "Authorization: Bearer), never in the URL, where proxies and logs keep them. "
                                "Treat the key as exposed and regenerate it."),
    # 401: no usable credentials.
    "missing_api_key": Problem(401, "Authentication required", "Send an API key in the API-Key, X-API-Key or "
                               "Authorization: Bearer header, or sign in."),
    "ambiguous_api_key": Problem(401, "Several API keys", "Send one API key in one header."),
    "invalid_api_key": Problem(401, "Invalid API key", "The key is mistyped, truncated or unknown; copy the "
                               "whole key again."),
    "revoked_api_key": Problem(401, "Revoked API key", "The key sent with the request was revoked; create a new "
                               "key."),
    "expired_api_key": Problem(401, "Expired API key", "The key sent with the request expired, or is the old "
                               "value of a regenerated key; use the new value or ask an admin to extend it."),
    "inactive_owner": Problem(401, "Owner without access", "The key's owner no longer has access to its company."),
    "invalid_signature": Problem(401, "Invalid signature", "The Keyhouse-Signature header does not match the body: "
                                 "sign the exact bytes sent with HMAC-SHA256, as sha256=<hex>."),
    # 403: known, but not allowed.
    "permission_denied": Problem(403, "Not allowed", "Your role does not allow this; ask a company admin or owner."),
    "no_company": Problem(403, "No company", "Your account is in no company; ask a company owner to add you."),
    "organization_mismatch": Problem(403, "Key of another company", "The X-Organization-Id header names another "
                                     "company than the key's; drop the header or use a key of that company."),
    "ip_not_allowed": Problem(403, "Address not allowed", "The key is restricted to other IP addresses."),
    "referrer_not_allowed": Problem(403, "Referrer not allowed", "The key is restricted to pages on other hosts."),
    "scope_not_allowed": Problem(403, "Scope not allowed", "The key lacks the scope this route needs, or a key "
                                 "may not grant scopes beyond its own; use a key with the scope."),
    "grace_period_value": Problem(403, "Old value of a regenerated key", "The old value still reads and calls "
                                  "product routes during its grace period, but manages no key; use the new value."),
    "limit_not_allowed": Problem(403, "Limited key", "A key with a limit changes no limit and obtains no value of a "
                                 "key limited less strictly; sign in, or use a key without a limit."),
    "expiry_not_allowed": Problem(403, "Key would outlive the caller", "A key with an expiry gives no key a later "
                                  "expiry or none, and obtains no value of such a key; sign in, or pick an earlier "
                                  "expiry."),
    "metrics_forbidden": Problem(403, "Metrics not allowed", "Send the metrics token as a bearer token, or scrape "
                                 "from an allowed address."),
    # 404: nothing there that you may see.
    "not_found": Problem(404, "Not found", "No such route or object; routes have no trailing slash."),
    "api_key_not_found": Problem(404, "API key not found", "No API key with this id in your company."),
    "user_not_found": Problem(404, "User not found", "No user with this id in your company."),
    "organization_not_found": Problem(404, "Company not found", "You are not a member of the company named by "
                                      "X-Organization-Id."),
    "method_not_allowed": Problem(405, "Method not allowed", "The route does not answer this method; the Allow "
                                  "header lists those it does."),
    "not_acceptable": Problem(406, "Not acceptable", "The API answers JSON only; accept application/json."),
    # 409: the state of the object forbids it.
    "too_many_api_keys": Problem(409, "Too many API keys", "The owner holds as many active keys as allowed; revoke "
                                 "one first."),
    "last_owner": Problem(409, "Last owner", "A company always keeps an owner; make someone else owner first."),
    "target_key_revoked": Problem(409, "Key revoked", "The key acted on was revoked and cannot be brought back; "
                                  "create a new key."),
    "target_key_expired": Problem(409, "Key expired", "The key acted on has expired; set a new `expires_at` first, "
                                  "or create a new key."),
    "key_not_recoverable": Problem(410, "Key not recoverable", "Keys are stored hashed and cannot be shown again; "
                                   "regenerate the key instead."),
    "request_too_large": Problem(413, "Request too large", "The body is larger than the server accepts."),
    "uri_too_long": Problem(414, "Request line too long", "The request line (method, path and query string) is "
                            "over the server's limit; send a shorter URL, or the data in a body."),
    "request_header_too_large": Problem(431, "Request head too large", "Too many headers, one too long, or the "
                                        "request line and headers over 64 KiB; send fewer or shorter headers."),
    "length_required": Problem(411, "Length required", "Send the body with a Content-Length header; a chunked "
                               "body is not read."),
    "unsupported_media_type": Problem(415, "Unsupported media type", "Send the body as application/json."),
    # 429: come back later.
    "request_limit_exceeded": Problem(429, "Request limit reached", "The key has used its requests for the period. "
                                      + _RETRY, QUOTA_EXCEEDED),
    "budget_limit_exceeded": Problem(429, "Budget reached", "The key has used its budget for the period. " + _RETRY,
                                     QUOTA_EXCEEDED),
    "management_rate_limit_exceeded": Problem(
        429, "Too many management requests", "The key called Keyhouse's own routes (keys, limits, usage, audit) too "
        "often in a minute; its product quota is untouched. " + _RETRY, QUOTA_EXCEEDED),
    "throttled": Problem(429, "Too many requests", "Too many requests in a short time. " + _RETRY),
    "server_error": Problem(500, "Server error", "Something went wrong on our side; it has been logged."),
    # 503: a store we depend on is down, or a feature is off.
    "database_unavailable": Problem(503, "Database unavailable", "The database is unreachable; retry shortly."),
    "counter_store_unavailable": Problem(503, "Counter store unavailable", "The usage counters cannot be reached, so "
                                         "keys with limits are refused rather than served unmetered; retry shortly."),
    "leak_reports_disabled": Problem(503, "Leak reports off", "Leak reports are not configured here "
                                     "(LEAK_REPORT_SECRET is unset)."),
}


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
    return request.path.startswith("/api/")


def handler400(request, exception=None):
    """Django's own 400s (a body over DATA_UPLOAD_MAX_MEMORY_SIZE, a bad Host) as problems."""
    if wants_json(request):
        if isinstance(exception, RequestDataTooBig):
            return problem_response(request, "request_too_large", "The request body is too large; send at most "
                                    f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes.")
        return problem_response(request, "bad_request", "The request could not be understood.")
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
        from core.crypto import KEY_PATTERN

        cleansed = super().cleanse_setting(key, value)
        if isinstance(cleansed, str):
            return KEY_PATTERN.sub(self.cleansed_substitute, cleansed)
        return cleansed
