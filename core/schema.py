"""OpenAPI: every operation documents the error shape for the statuses it can answer."""
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as BaseAutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema_serializer, inline_serializer
from rest_framework import serializers


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable snake_case code to branch on, e.g. `revoked_api_key`.")
    message = serializers.CharField(help_text="What went wrong and what to do about it.")
    details = serializers.DictField(help_text="Field errors or other context; may be empty.")


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


ORGANIZATION_PARAMETER = OpenApiParameter(
    "X-Organization-Id",
    OpenApiTypes.INT,
    OpenApiParameter.HEADER,
    description="Company to act in, for people in several companies (session only; a key acts in its own).",
)

def _codes(status: int) -> str:
    from core.outcomes import codes_by_status  # the table every key refusal is rendered from

    return ", ".join(f"`{code}`" for code in codes_by_status().get(status, []))


ERROR_DESCRIPTIONS = {
    "400": "Invalid input: `validation_error` with per-field messages in `details`, or `malformed_request`; "
           f"for the key: {_codes(400)}.",
    "401": f"No or bad credentials: {_codes(401)}.",
    "403": "Authenticated but not allowed: `permission_denied`, `grace_period_value`, `limit_not_allowed`; by the "
           f"key's restrictions: {_codes(403)}.",
    "404": "No such object in your company, or not visible to you: `not_found`.",
}


PAGE_SIZE_PARAMETER = OpenApiParameter("page_size", OpenApiTypes.INT, description="1 to 200; default 50.")
PAGE_PARAMETERS = [OpenApiParameter("page", OpenApiTypes.INT, description="1-based; default 1."), PAGE_SIZE_PARAMETER]
CURSOR_PARAMETERS = [
    OpenApiParameter("cursor", str, description="The `next` of the previous page; leave it out for the newest "
                                                 "items. Send the same filters with it."),
    PAGE_SIZE_PARAMETER,
    OpenApiParameter("page", OpenApiTypes.INT, deprecated=True, description=(
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
        "total": serializers.IntegerField(required=False, help_text=PAGE_FIELDS_DEPRECATED),
        "page": serializers.IntegerField(required=False, help_text=PAGE_FIELDS_DEPRECATED),
        "total_pages": serializers.IntegerField(required=False, help_text=PAGE_FIELDS_DEPRECATED),
    })
    return deprecating(page, "total", "page", "total_pages")


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
            "total": serializers.IntegerField(),
            "page": serializers.IntegerField(),
            "page_size": serializers.IntegerField(),
            "total_pages": serializers.IntegerField(),
        },
    )


class AutoSchema(BaseAutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        # Any request can be refused for bad input (a key in the query string, for one).
        codes = ["400", "401", "403"] + (["404"] if "{" in self.path else [])
        for code in codes:
            if code not in responses:
                response = self._get_response_for_code(ErrorSerializer, code, direction=direction)
                response["description"] = ERROR_DESCRIPTIONS[code]
                responses[code] = response
        return responses


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
