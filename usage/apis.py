"""Per-key limits and usage analytics, and company-wide usage."""
from copy import deepcopy

from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_serializer,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.status import HTTP_204_NO_CONTENT
from rest_framework.views import APIView

from accounts.access import actor_from_request, company_keys_check, limits_check_manage
from accounts.models import MAX_BUDGET_MICROCENTS, MAX_REQUEST_LIMIT, ResetPeriod
from core.errors import BadParameter
from core.pagination import CursorPagination
from core.parsing import ascii_int
from core.schema import CURSOR_PARAMETERS, ORGANIZATION_PARAMETER, cursor_paginated, deprecating
from core.serializers import JsonIntegerField, StrictInputSerializer
from keys import limit_services as services
from keys.models import KeyLimit
from keys.selectors import api_key_get
from usage import selectors
from usage.models import RequestLog

MAX_DAYS = 365
DAYS = OpenApiParameter("days", {"type": "integer", "minimum": 1, "maximum": MAX_DAYS}, description=(
    "Days of usage, 1 to 365. Default 30. Up to 2: the last days x 24 hours, ending with the current "
    "hour; more: today and the days - 1 UTC calendar days before it."))


def _days(request) -> int:
    return ascii_int(request.query_params.get("days", "30"), name="days", low=1, high=MAX_DAYS, code="invalid_days")


def _company_days(request):
    """The caller's company, if they may read its whole usage, and `days`."""
    actor = actor_from_request(request)
    company_keys_check(actor, "may read the whole company's usage.")
    return actor.company, _days(request)


def company_usage_schema(operation_id: str, serializer):
    """Schema of a GET of the caller's company's usage over `days` (_company_days)."""
    return extend_schema(operation_id=operation_id, parameters=[DAYS, ORGANIZATION_PARAMETER], responses=serializer)


def _key(request, key_id):
    return api_key_get(actor_from_request(request), key_id)


class LimitsSerializer(serializers.Serializer):
    request_limit = serializers.IntegerField(allow_null=True)
    budget_limit_microcents = serializers.IntegerField(allow_null=True)
    reset_period = serializers.ChoiceField(choices=ResetPeriod.values)
    enabled = serializers.BooleanField()
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    requests_used = serializers.IntegerField(allow_null=True, help_text="null while the counter store is down.")
    counted_with_key_id = serializers.UUIDField(
        allow_null=True, help_text="The key whose counter this key's use counts against (the limited key that "
                                   "created it), so the use shown is theirs together; null: its own.")
    spend_used_microcents = serializers.IntegerField(allow_null=True)


class KeyLimitsOutputSerializer(serializers.Serializer):
    api_key_id = serializers.UUIDField()
    api_key_name = serializers.CharField()
    limits = LimitsSerializer(allow_null=True)
    has_limits = serializers.BooleanField()


class KeyLimitsInputSerializer(StrictInputSerializer):
    request_limit = JsonIntegerField(required=False, allow_null=True, min_value=0,
                                     max_value=MAX_REQUEST_LIMIT, help_text="Requests per period.")
    budget_limit_microcents = JsonIntegerField(required=False, allow_null=True, min_value=0,
                                                       max_value=MAX_BUDGET_MICROCENTS,
                                                       help_text="Spend per period in microcents (1/1,000,000 cent).")
    reset_period = serializers.ChoiceField(choices=ResetPeriod.values, required=False,
                                           help_text="How often the counters reset. Default: monthly.")
    enabled = serializers.BooleanField(required=False, help_text="Whether the limit is enforced. Default: true.")


# A field left out of a PUT keeps the key's current value (these for a key without limits), so
# `{"reset_period": "daily", "enabled": false}` switches a limit off and keeps its numbers; a
# number sent as null is removed. Lifting every limit is DELETE's.
LIMIT_DEFAULTS = {"request_limit": None, "budget_limit_microcents": None, "reset_period": ResetPeriod.MONTHLY,
                  "enabled": True}


def _limits_after(key, sent: dict) -> dict:
    current = KeyLimit.objects.filter(api_key=key).first()
    return {name: sent[name] if name in sent else (default if current is None else getattr(current, name))
            for name, default in LIMIT_DEFAULTS.items()}


def _limits_body(key) -> dict:
    use = selectors.limits_use(key)
    limits = None
    if use is not None:
        limit = use["limit"]
        limits = {"request_limit": limit.request_limit, "budget_limit_microcents": limit.budget_limit_microcents,
                  "reset_period": limit.reset_period, "enabled": limit.enabled,
                  "counted_with_key_id": limit.counted_with_id,
                  **{field: use[field] for field in ("period_start", "period_end", "requests_used",
                                                     "spend_used_microcents")}}
    body = {"api_key_id": key.pk, "api_key_name": key.name, "limits": limits,
            "has_limits": bool(use and use["limit"].is_enforced)}
    return KeyLimitsOutputSerializer(body).data


class KeyLimitsApi(APIView):
    api_scope = "keys"

    @extend_schema(operation_id="api_key_limits_get", parameters=[ORGANIZATION_PARAMETER],
                   responses=KeyLimitsOutputSerializer)
    def get(self, request, key_id):
        return Response(_limits_body(_key(request, key_id)))

    @extend_schema(operation_id="api_key_limits_set", parameters=[ORGANIZATION_PARAMETER],
                   description="Set the key's limits. A field left out keeps its current value; a number sent "
                               "as null is removed. At least one number must remain: DELETE lifts the limits.",
                   request=KeyLimitsInputSerializer, responses=KeyLimitsOutputSerializer)
    def put(self, request, key_id):
        actor = actor_from_request(request)
        key = api_key_get(actor, key_id)
        limits_check_manage(actor, key)
        serializer = KeyLimitsInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key.limit = services.limits_set(api_key=key, grantor=actor, **_limits_after(key, serializer.validated_data))
        return Response(_limits_body(key))

    @extend_schema(operation_id="api_key_limits_delete", parameters=[ORGANIZATION_PARAMETER], responses={204: None})
    def delete(self, request, key_id):
        actor = actor_from_request(request)
        key = api_key_get(actor, key_id)
        limits_check_manage(actor, key)
        services.limits_delete(api_key=key, grantor=actor)
        return Response(status=HTTP_204_NO_CONTENT)


# What the window's requests add up to, for a key or a company (a comment: the schema would show
# a docstring as the description of both).
class UsageTotalsSerializer(serializers.Serializer):
    total_requests = serializers.IntegerField()
    successful_requests = serializers.IntegerField()
    failed_requests = serializers.IntegerField()
    total_spend_microcents = serializers.IntegerField()


class KeyUsageSerializer(UsageTotalsSerializer):
    api_key_id = serializers.UUIDField()
    api_key_name = serializers.CharField()
    days = serializers.IntegerField()


class KeyUsageApi(APIView):
    api_scope = "usage"

    @extend_schema(operation_id="api_key_usage", parameters=[DAYS, ORGANIZATION_PARAMETER],
                   responses=KeyUsageSerializer)
    def get(self, request, key_id):
        key, days = _key(request, key_id), _days(request)
        return Response({"api_key_id": key.pk, "api_key_name": key.name, "days": days,
                         **selectors.usage_summary(key, days)})


def listed(old_name: str, items: list) -> dict:
    """A list under `items`, the one collection key of every list, and under the name it had
    before, which scripts written against the documented routes read, for one release."""
    return {"items": items, old_name: items}


def listing(name: str, old_name: str, item_serializer, **fields):
    """Schema of a `listed` response: `old_name` marked deprecated."""
    old = {old_name: item_serializer(many=True, help_text="Deprecated: the same list as `items`, for one release.")}
    return deprecating(inline_serializer(name, {**fields, "items": item_serializer(many=True), **old}), old_name)


# GET one key's usage over `days` as a `listed` response: `list_usage` gives the list and the
# fields beside it, `old_name` the list's name before `items`. Its schema is key_list_schema's.
# (A comment, not a docstring: the schema would show a docstring as each route's description.)
class KeyListApi(APIView):
    api_scope = "usage"
    old_name = ""

    def list_usage(self, key, days: int) -> tuple[list, dict]:
        raise NotImplementedError

    def get(self, request, key_id):
        key, days = _key(request, key_id), _days(request)
        items, fields = self.list_usage(key, days)
        return Response({"api_key_id": key.pk, "days": days, **fields, **listed(self.old_name, items)})


def key_list_schema(operation_id: str, name: str, item_serializer, **fields):
    """Schema of a KeyListApi's GET: a list of `item_serializer`, with `fields` besides. A
    serializer lists its fields in the order they were made, so `fields` are made again after
    api_key_id and days, to follow them."""
    def decorate(view):
        response = listing(name, view.old_name, item_serializer, api_key_id=serializers.UUIDField(),
                           days=serializers.IntegerField(), **{field: deepcopy(made) for field, made in fields.items()})
        return extend_schema_view(get=extend_schema(
            operation_id=operation_id, parameters=[DAYS, ORGANIZATION_PARAMETER], responses=response))(view)
    return decorate


class TierUsageSerializer(serializers.Serializer):
    tier = serializers.CharField()
    requests = serializers.IntegerField()
    spend_microcents = serializers.IntegerField()


@key_list_schema("api_key_usage_by_tier", "KeyUsageByTier", TierUsageSerializer)
class KeyUsageByTierApi(KeyListApi):
    old_name = "tiers"

    def list_usage(self, key, days):
        return selectors.usage_by_tier(key, days), {}


class ErrorUsageSerializer(serializers.Serializer):
    status_code = serializers.IntegerField()
    code = serializers.CharField()
    count = serializers.IntegerField()
    last_seen = serializers.DateTimeField()


@key_list_schema("api_key_usage_errors", "KeyUsageErrors", ErrorUsageSerializer,
                 total_errors=serializers.IntegerField())
class KeyUsageErrorsApi(KeyListApi):
    old_name = "errors"

    def list_usage(self, key, days):
        errors = selectors.usage_errors(key, days)
        return errors, {"total_errors": sum(error["count"] for error in errors)}


class RequestLogSerializer(serializers.ModelSerializer):
    outcome = serializers.CharField(read_only=True)

    class Meta:
        model = RequestLog
        fields = ["id", "created_at", "method", "path", "route", "status_code", "outcome", "error_code",
                  "latency_ms", "client_ip", "user_agent", "domain", "tier", "cost_microcents", "request_id"]


class KeyUsageRequestsApi(APIView):
    api_scope = "usage"

    @extend_schema(operation_id="api_key_usage_requests", parameters=[
        DAYS, ORGANIZATION_PARAMETER, *CURSOR_PARAMETERS,
        OpenApiParameter("status", enum=["success", "failed", ""], description=(
            "success (2xx and 3xx) or failed (anything else); empty or absent: both.")),
        OpenApiParameter("tier", str),
        OpenApiParameter("domain", str, description="Substring of the request's Origin/Referer host."),
    ], responses=cursor_paginated(RequestLogSerializer, "KeyUsageRequests", api_key_id=serializers.UUIDField()))
    def get(self, request, key_id):
        key, days = _key(request, key_id), _days(request)
        status = request.query_params.get("status")
        if status not in (None, "", "success", "failed"):
            message = "status must be success or failed."
            raise BadParameter(message, name="status")
        log = selectors.usage_requests(key, days, status=status, tier=request.query_params.get("tier"),
                                       domain=request.query_params.get("domain"))
        return CursorPagination().response(request, log, RequestLogSerializer, api_key_id=key.pk)


class UsagePointSerializer(serializers.Serializer):
    bucket = serializers.DateTimeField()
    requests = serializers.IntegerField()
    successful = serializers.IntegerField()
    failed = serializers.IntegerField()
    spend_microcents = serializers.IntegerField()


@key_list_schema("api_key_usage_timeseries", "KeyUsageTimeseries", UsagePointSerializer,
                 granularity=serializers.ChoiceField(choices=["hour", "day"]))
class KeyUsageTimeseriesApi(KeyListApi):
    old_name = "data"

    def list_usage(self, key, days):
        granularity, data = selectors.usage_timeseries(days, api_key=key)
        return data, {"granularity": granularity}


class KeyBreakdownSerializer(serializers.Serializer):
    api_key_id = serializers.UUIDField()
    api_key_name = serializers.CharField(allow_null=True, help_text="null once the key has been deleted")
    prefix = serializers.CharField(allow_null=True, help_text="null once the key has been deleted")
    total_requests = serializers.IntegerField()
    failed_requests = serializers.IntegerField()
    total_spend_microcents = serializers.IntegerField()


@extend_schema_serializer(deprecate_fields=["keys"])
class CompanyUsageSerializer(UsageTotalsSerializer):
    company_id = serializers.IntegerField()
    days = serializers.IntegerField()
    items = KeyBreakdownSerializer(many=True, help_text="Per key, most requests first.")
    keys = KeyBreakdownSerializer(many=True, help_text="Deprecated: the same list as `items`, for one release.")


@extend_schema_serializer(deprecate_fields=["data"])
class CompanyTimeseriesSerializer(serializers.Serializer):
    company_id = serializers.IntegerField()
    days = serializers.IntegerField()
    granularity = serializers.ChoiceField(choices=["hour", "day"])
    items = UsagePointSerializer(many=True)
    data = UsagePointSerializer(  # type: ignore[assignment]  # the body's field, not Serializer.data
        many=True, help_text="Deprecated: the same list as `items`, for one release.")
    keys = KeyBreakdownSerializer(many=True, help_text="Per key, most requests first: what the chart adds up.")


class CompanyUsageApi(APIView):
    api_scope = "usage"

    @company_usage_schema("company_usage", CompanyUsageSerializer)
    def get(self, request):
        company, days = _company_days(request)
        usage = selectors.company_usage(company, days)
        return Response({"company_id": company.pk, "days": days, **usage, **listed("keys", usage["keys"])})


class CompanyUsageTimeseriesApi(APIView):
    api_scope = "usage"

    @company_usage_schema("company_usage_timeseries", CompanyTimeseriesSerializer)
    def get(self, request):
        company, days = _company_days(request)
        granularity, data = selectors.usage_timeseries(days, company=company)
        return Response({"company_id": company.pk, "days": days, "granularity": granularity,
                         **listed("data", data), "keys": selectors.company_usage_by_key(company, days)})
