"""OpenAPI, generated from the tables the server answers from.

Every error response is a problem (core.errors) whose `code` is an enum of exactly the codes
core.errors.PROBLEMS gives that status, and every operation lists the statuses it can answer:
those any request may get (RESPONSES_OF_EVERY_OPERATION), those of a keyed operation, of one
with a body or an object id, and those its view declares with `problems(...)`. The response
headers of keyed operations are declared in one place, keyed_response_headers().
"""
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as BaseAutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema_serializer, inline_serializer
from rest_framework import serializers

from core.errors import PROBLEM_CONTENT_TYPE, PROBLEM_PATH, PROBLEMS, codes_by_status
from core.parsing import MAX_BIGINT

ORGANIZATION_PARAMETER = OpenApiParameter(
    "X-Organization-Id",
    {"type": "integer", "minimum": 1, "maximum": MAX_BIGINT},
    OpenApiParameter.HEADER,
    description="Company to act in, for people in several companies (session only; a key acts in its own).",
)
# Statuses by what an operation is: any request (406: the API answers JSON only; 414 and 431: a
# request line or head over gunicorn's limits, refused before Django), a keyed one
# (a bad key, a restriction, a limit, a counter store down), one that reads a body, and one
# that names an object (in the path, or a company in X-Organization-Id).
RESPONSES_OF_EVERY_OPERATION = (400, 406, 414, 431, 503)
RESPONSES_OF_KEYED_OPERATIONS = (401, 403, 429)
RESPONSES_OF_BODIES = (411, 413, 415)  # 411: a chunked body (core.chunked)
RESPONSES_OF_OBJECTS = (404,)


def problems(*statuses: int) -> dict:
    """Statuses an operation answers beyond those of its kind, for extend_schema(responses=...)."""
    return {status: OpenApiResponse(description=_description(status)) for status in statuses}


def keyed_response_headers(status: int) -> dict:
    """The response headers of an operation a key may call, by status (every status, success
    included): the one place they are declared."""
    headers = {}
    if status == 429:
        headers["Retry-After"] = {
            "description": "Seconds until the key's period resets and it may call again.",
            "schema": {"type": "integer", "minimum": 0},
        }
    return headers


def _description(status: int) -> str:
    codes = "; ".join(f"`{code}`: {PROBLEMS[code].title}" for code in codes_by_status()[status])
    return f"A problem ({PROBLEM_CONTENT_TYPE}); `code` is one of: {codes}."


def problem_schema(status: int) -> dict:
    """The problem document of one status, its `code` an enum of that status's codes."""
    return {
        "type": "object",
        "description": "RFC 9457 problem details. Members beyond these are extensions, named per code.",
        "properties": {
            "type": {"type": "string", "format": "uri-reference",
                     "description": f"{PROBLEM_PATH}<code> on this server: the code's title, status and what to do."},
            "title": {"type": "string"},
            "status": {"type": "integer", "const": status},
            "detail": {"type": "string", "description": "What went wrong here and what to do about it."},
            "instance": {"type": "string", "description": "The request id, also in the X-Request-Id header; for a "
                         "request refused by the server before the application read it (400, 414, 431), its "
                         "path when the request line could be read."},
            "code": {"type": "string", "enum": codes_by_status()[status],
                     "description": "Stable snake_case code to branch on."},
            "errors": {"type": "array", "items": {"$ref": "#/components/schemas/ProblemError"},
                       "description": "Invalid input, one entry per field, parameter or header."},
        },
        "required": ["type", "title", "status", "detail", "instance", "code"],
    }


PROBLEM_ERROR_SCHEMA = {
    "type": "object",
    "description": "One invalid input: a body field by `pointer` (RFC 6901 JSON Pointer, \"\" for the whole "
                   "body), a query parameter by `parameter`, a header by `header`.",
    "properties": {
        "pointer": {"type": "string"},
        "parameter": {"type": "string"},
        "header": {"type": "string"},
        "detail": {"type": "string"},
    },
    "required": ["detail"],
}


PAGE_SIZE_PARAMETER = OpenApiParameter("page_size", {"type": "integer", "minimum": 1},
                                       description="Default 50; more than 200 is read as 200.")
PAGE_PARAMETERS = [OpenApiParameter("page", {"type": "integer", "minimum": 1},
                                    description="1-based; pages past the last are empty."), PAGE_SIZE_PARAMETER]
CURSOR_PARAMETERS = [
    OpenApiParameter("cursor", str, description="The `next` of the previous page; leave it out for the newest "
                                                 "items. Send the same filters with it: a cursor of another list, "
                                                 "or of other filters, is refused (400 `invalid_cursor`)."),
    PAGE_SIZE_PARAMETER,
    OpenApiParameter("page", {"type": "integer", "minimum": 1}, deprecated=True, description=(
        "Deprecated, for one release: page by `cursor`, which repeats and skips nothing while items are added. "
        "Refused together with `cursor` (400 `invalid_pagination`).")),
]
PAGE_FIELDS_DEPRECATED = "Deprecated: only when no `cursor` is sent, for one release; follow `next` instead."


def cursor_paginated(serializer_class, name: str, **extra_fields):
    """Schema of a CursorPagination response whose items are `serializer_class`."""
    page = inline_serializer(name=name, fields={
        **extra_fields,
        "items": serializer_class(many=True),
        "has_more": serializers.BooleanField(help_text="Whether a page follows this one."),
        "next": serializers.CharField(allow_null=True, help_text="Cursor of the next page; null on the last."),
        "page_size": serializers.IntegerField(),
        "total": serializers.IntegerField(required=False, help_text=(
            "Items in the list, counted up to 10,000: past that, a lower bound, and `total_capped` is true. "
            + PAGE_FIELDS_DEPRECATED)),
        "total_capped": serializers.BooleanField(required=False, help_text=(
            "True when the list holds more than 10,000 items: `total` and `total_pages` are then lower bounds. "
            + PAGE_FIELDS_DEPRECATED)),
        "page": serializers.IntegerField(required=False, help_text=PAGE_FIELDS_DEPRECATED),
        "total_pages": serializers.IntegerField(required=False, help_text=PAGE_FIELDS_DEPRECATED),
    })
    return deprecating(page, "total", "total_capped", "page", "total_pages")


def deprecating(serializer, *fields: str):
    """Marks response fields deprecated in the schema; they are still sent, for one release."""
    extend_schema_serializer(deprecate_fields=list(fields))(type(serializer))
    return serializer


def paginated(serializer_class, name: str, **extra_fields):
    """Schema of a PagePagination response whose items are `serializer_class`."""
    return inline_serializer(
        name=name,
        fields={
            **extra_fields,
            "items": serializer_class(many=True),
            "total": serializers.IntegerField(min_value=0),
            "page": serializers.IntegerField(min_value=1),
            "page_size": serializers.IntegerField(min_value=1, max_value=200),
            "total_pages": serializers.IntegerField(min_value=0),
        },
    )


class AutoSchema(BaseAutoSchema):
    def _is_keyed(self) -> bool:
        return any(type(auth).__name__ == "ApiKeyAuthentication" for auth in self.view.get_authenticators())

    def _statuses(self, operation: dict) -> list[int]:
        statuses = [*RESPONSES_OF_EVERY_OPERATION]
        if self._is_keyed():
            statuses += RESPONSES_OF_KEYED_OPERATIONS
        if "requestBody" in operation:
            statuses += RESPONSES_OF_BODIES
        if "{" in self.path or self._is_keyed():  # a key or a session may name a company
            statuses += RESPONSES_OF_OBJECTS
        return statuses

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        responses = operation["responses"]
        for status in self._statuses(operation):
            responses.setdefault(str(status), {})
        for status, response in responses.items():
            headers = keyed_response_headers(int(status)) if self._is_keyed() else {}
            if headers:
                response["headers"] = {**response.get("headers", {}), **headers}
            if int(status) >= 400:
                response["description"] = _description(int(status))
                response["content"] = {
                    PROBLEM_CONTENT_TYPE: {"schema": {"$ref": f"#/components/schemas/Problem{status}"}}
                }
        operation["responses"] = dict(sorted(responses.items()))
        if not self._is_keyed() and not self.get_auth():
            operation["security"] = []
        return operation

    def get_summary(self):
        """The first line of the method's docstring, else its operation id in words."""
        doc = (getattr(self.view, self.method.lower(), None).__doc__ or "").strip()
        if doc:
            return doc.splitlines()[0].rstrip(".")
        words = self.get_operation_id().replace("api_keys", "API keys").replace("api_key", "API key").split("_")
        return " ".join(words)[:1].upper() + " ".join(words)[1:]

    def _map_serializer(self, serializer, direction, bypass_extensions=False):
        from core.serializers import StrictInputSerializer

        schema = super()._map_serializer(serializer, direction, bypass_extensions)
        if direction == "request" and isinstance(serializer, StrictInputSerializer):
            schema["additionalProperties"] = False  # unknown fields are refused, not ignored
        return schema


def add_problem_components(result, generator, request, public):
    """drf-spectacular postprocessing hook: the problem schemas every error response refers to."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    used = {status for path in result["paths"].values() for operation in path.values()
            for status in operation.get("responses", {}) if status.isdigit() and int(status) >= 400}
    schemas["ProblemError"] = PROBLEM_ERROR_SCHEMA
    for status in sorted(used):
        schemas[f"Problem{status}"] = problem_schema(int(status))
    result["components"]["schemas"] = dict(sorted(schemas.items()))
    return result


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "keys.authentication.ApiKeyAuthentication"
    name = ["ApiKeyHeader", "XApiKeyHeader", "BearerKey"]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "apiKey", "in": "header", "name": "API-Key"},
            {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            {"type": "http", "scheme": "bearer", "bearerFormat": "sk_live_… / sk_test_…"},
        ]

    def get_security_requirement(self, auto_schema):
        # Any one of the three headers is enough (OR), not all of them.
        return [{name: []} for name in self.name]
