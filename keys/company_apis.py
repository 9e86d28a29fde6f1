from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import actor_from_request, policy_check_manage
from accounts.models import MAX_BUDGET_MICROCENTS, MAX_REQUEST_LIMIT, POLICY_FIELDS, ResetPeriod
from core.schema import ORGANIZATION_PARAMETER
from core.serializers import JsonIntegerField, StrictInputSerializer
from keys.company_services import MAX_POLICY_DAYS, company_policy_set


@extend_schema_field({"$ref": "#/components/schemas/KeyMode"})
class KeyModeField(serializers.CharField):
    """The key's mode, as the schema's one KeyMode enum (named here: accounts sits below keys)."""


MeSerializer = inline_serializer(
    name="Me",
    fields={
        "user": inline_serializer("MeUser", {"id": serializers.IntegerField(), "username": serializers.CharField(),
                                             "email": serializers.CharField()}),
        "company": inline_serializer("MeCompany", {"id": serializers.IntegerField(), "name": serializers.CharField()}),
        "role": serializers.ChoiceField(choices=["owner", "admin", "member"]),
        "authenticated_with": serializers.ChoiceField(choices=["api_key", "session"]),
        "api_key": inline_serializer(
            "MeApiKey",
            {"id": serializers.UUIDField(), "name": serializers.CharField(), "prefix": serializers.CharField(),
             "mode": KeyModeField(), "expires_at": serializers.DateTimeField(allow_null=True)},
            allow_null=True,
        ),
    },
)


class MeApi(APIView):
    """The first call a script makes: is my key good, whose is it, which company, which mode."""

    required_scope = None  # any key may ask who it is
    management_route = True  # never counted against the key's product quota (usage.limits)

    @extend_schema(operation_id="me", responses=MeSerializer)
    def get(self, request):
        actor = actor_from_request(request)
        key = actor.api_key
        return Response({
            "user": {"id": actor.user.pk, "username": actor.user.username, "email": actor.user.email},
            "company": {"id": actor.company.pk, "name": actor.company.name},
            "role": actor.role,
            "authenticated_with": "api_key" if key else "session",
            "api_key": {"id": key.pk, "name": key.name, "prefix": key.prefix, "mode": key.mode,
                        "expires_at": key.expires_at} if key else None,
        })


class PolicySerializer(StrictInputSerializer):
    max_key_lifetime_days = JsonIntegerField(
        allow_null=True,
        min_value=1,
        max_value=MAX_POLICY_DAYS,
        help_text="Keys must expire within this many days; null: no maximum.",
    )
    require_key_expiry = serializers.BooleanField(help_text="Refuse keys that never expire.")
    unused_key_days = JsonIntegerField(min_value=1, max_value=MAX_POLICY_DAYS,
                                               help_text="Keys unused this long are listed as candidates to revoke.")
    default_request_limit = JsonIntegerField(
        required=False, allow_null=True, min_value=0, max_value=MAX_REQUEST_LIMIT,
        help_text="Every new key starts limited to this many requests per period; null: no request limit. "
                  "Left out: unchanged.")
    default_budget_limit_microcents = JsonIntegerField(
        required=False, allow_null=True, min_value=0, max_value=MAX_BUDGET_MICROCENTS,
        help_text="Every new key starts limited to this spend per period (millionths of a cent); null: no budget. "
                  "Left out: unchanged.")
    default_limit_period = serializers.ChoiceField(
        required=False, choices=ResetPeriod.values, help_text="The period of the default limits. Left out: unchanged.")


class CompanyPolicyApi(APIView):
    """The company's key policy: every member may read it, owners change it."""

    api_scope = "keys"

    def _body(self, company) -> dict:
        return {"company_id": company.pk, **{field: getattr(company, field) for field in POLICY_FIELDS}}

    @extend_schema(operation_id="company_policy_get", parameters=[ORGANIZATION_PARAMETER], responses=PolicySerializer)
    def get(self, request):
        return Response(self._body(actor_from_request(request).company))

    @extend_schema(operation_id="company_policy_set", parameters=[ORGANIZATION_PARAMETER], request=PolicySerializer,
                   responses=PolicySerializer)
    def put(self, request):
        actor = actor_from_request(request)
        policy_check_manage(actor)
        data = PolicySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        company = company_policy_set(company=actor.company, actor_user=actor.user, **data.validated_data)
        return Response(self._body(company))
