"""The key-management API. Views are thin: parse, call one selector or service, shape."""
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import actor_from_request, company_keys_check, member_check_access
from core.errors import BadParameter, Gone, NotFound
from core.pagination import PagePagination
from core.parsing import ascii_int
from core.schema import ORGANIZATION_PARAMETER, PAGE_PARAMETERS, paginated, problems
from core.serializers import AwareDateTimeField, JsonIntegerField, StrictInputSerializer
from keys import selectors, services
from keys.legacy import legacy_notice_mark_shown, legacy_status
from keys.limit_services import api_key_issue
from keys.models import NAME_MAX_LENGTH, ApiKey, Mode, key_name_validator
from keys.restrictions import SCOPE_NAMES, SCOPES


@extend_schema_field(serializers.ChoiceField(choices=SCOPE_NAMES))
class ScopeNameField(serializers.CharField):
    """A scope's name, documented as the Scope enum; an unknown one is refused by the restriction
    rules (400 invalid_restriction), which say which names exist."""


class ApiKeyOutputSerializer(serializers.ModelSerializer):
    owner = serializers.SerializerMethodField()
    is_active = serializers.BooleanField(read_only=True)
    scopes = serializers.ListField(child=ScopeNameField(), read_only=True)

    class Meta:
        model = ApiKey
        fields = [
            "id", "name", "prefix", "mode", "owner", "created_at",
            "expires_at", "last_used_at", "revoked_at", "is_active", "scopes", "previous_prefix",
            "previous_expires_at", "is_legacy",
        ]

    @extend_schema_field(inline_serializer("KeyOwner", {"id": serializers.IntegerField(),
                                                        "username": serializers.CharField()}))
    def get_owner(self, key) -> dict:
        return {"id": key.owner_id, "username": key.owner.username}


class ApiKeyCreatedSerializer(ApiKeyOutputSerializer):
    key = serializers.SerializerMethodField(help_text="The raw key. Shown in this response only: store it now.")

    class Meta(ApiKeyOutputSerializer.Meta):
        fields = ApiKeyOutputSerializer.Meta.fields + ["key"]

    def get_key(self, key) -> str:
        return self.context["raw_key"]


class ApiKeyCreateInputSerializer(StrictInputSerializer):
    name = serializers.CharField(max_length=NAME_MAX_LENGTH, validators=[key_name_validator],
                                 help_text="e.g. 'Production Server'.")
    scopes = serializers.ListField(child=ScopeNameField(max_length=40), required=False, max_length=20,
                                   help_text="API areas the key may call; default: those of the caller's key, "
                                             "or 'all'.")
    expires_at = AwareDateTimeField(required=False, allow_null=True, help_text="ISO 8601 with a timezone.")
    mode = serializers.ChoiceField(choices=Mode.choices, default=Mode.LIVE, help_text="`test` keys are never charged.")


class ApiKeyRegenerateInputSerializer(StrictInputSerializer):
    grace_period_seconds = JsonIntegerField(
        min_value=0, max_value=services.MAX_GRACE_SECONDS, default=0,
        help_text="Keep the old value working this many seconds (up to 7 days) to roll over without downtime; "
                  "0: it stops at once.")


class ApiKeyUpdateInputSerializer(StrictInputSerializer):
    name = serializers.CharField(max_length=NAME_MAX_LENGTH, validators=[key_name_validator], required=False)
    expires_at = AwareDateTimeField(required=False, allow_null=True)


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


@sensitive_variables()
def _created(key, raw, status_code=status.HTTP_201_CREATED) -> Response:
    response = Response(ApiKeyCreatedSerializer(key, context={"raw_key": raw}).data, status=status_code)
    response["Cache-Control"] = "no-store"
    return response


@sensitive_variables()
def _create_for(request, owner) -> Response:
    actor = actor_from_request(request)
    data = _valid(ApiKeyCreateInputSerializer, request)
    key, raw = api_key_issue(grantor=actor, company=actor.company, owner=owner, **data)
    return _created(key, raw)


class UserApiKeysApi(APIView):
    """A user's keys, for that user or an admin of their company."""
    api_scope = "keys"


    @extend_schema(operation_id="user_api_keys_list", parameters=[ORGANIZATION_PARAMETER, *PAGE_PARAMETERS],
                   responses=paginated(ApiKeyOutputSerializer, "UserApiKeyPage"))
    def get(self, request, user_id):
        actor = actor_from_request(request)
        member = member_check_access(actor, user_id)
        keys = selectors.api_keys_of_company(actor, owner_id=member.pk)
        return PagePagination().response(request, keys, ApiKeyOutputSerializer)

    @extend_schema(operation_id="user_api_keys_create", parameters=[ORGANIZATION_PARAMETER],
                   request=ApiKeyCreateInputSerializer,
                   responses={201: ApiKeyCreatedSerializer, **problems(409)})
    def post(self, request, user_id):
        return _create_for(request, member_check_access(actor_from_request(request), user_id))


class UserApiKeyRevokeApi(APIView):
    api_scope = "keys"

    @extend_schema(operation_id="user_api_key_revoke", parameters=[ORGANIZATION_PARAMETER], request=None,
                   responses={204: None})
    def post(self, request, user_id, key_id):
        actor = actor_from_request(request)
        key = selectors.api_key_get(actor, key_id)
        if key.owner_id != user_id:
            raise NotFound(f"User {user_id} has no API key with this id.", code="api_key_not_found")
        services.api_key_revoke(api_key=key, actor_user=actor.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiKeysApi(APIView):
    """The caller's keys; admins and owners may pass `user` or `scope=company`."""
    api_scope = "keys"


    @extend_schema(
        operation_id="api_keys_list",
        parameters=[
            ORGANIZATION_PARAMETER,
            OpenApiParameter("scope", enum=["mine", "company"], description="`company`: every key (admins, owners)."),
            OpenApiParameter("user", {"type": "integer", "minimum": 1},
                             description="Keys of this member (admins, owners)."),
            OpenApiParameter("status", enum=list(selectors.STATUSES)),
            OpenApiParameter("mode", enum=Mode.values),
            *PAGE_PARAMETERS,
        ],
        responses=paginated(ApiKeyOutputSerializer, "ApiKeyPage"),
    )
    def get(self, request):
        actor = actor_from_request(request)
        params = request.query_params
        for name, allowed in (("scope", ("mine", "company")), ("status", selectors.STATUSES), ("mode", Mode.values)):
            if params.get(name) and params[name] not in allowed:
                message = f"{name} must be one of {', '.join(allowed)}."
                raise BadParameter(message, name=name)
        owner_id = actor.user.pk
        if params.get("user"):
            owner_id = member_check_access(actor, ascii_int(params["user"], name="user", low=1)).pk
        elif params.get("scope") == "company":
            company_keys_check(actor, "may list every key of the company.")
            owner_id = None
        keys = selectors.api_keys_of_company(actor, owner_id=owner_id, status=params.get("status"),
                                             mode=params.get("mode"))
        return PagePagination().response(request, keys, ApiKeyOutputSerializer)

    @extend_schema(operation_id="api_keys_create", parameters=[ORGANIZATION_PARAMETER],
                   request=ApiKeyCreateInputSerializer,
                   responses={201: ApiKeyCreatedSerializer, **problems(409)})
    def post(self, request):
        return _create_for(request, actor_from_request(request).user)


class ApiKeyDetailApi(APIView):
    api_scope = "keys"

    @extend_schema(operation_id="api_key_get", parameters=[ORGANIZATION_PARAMETER], responses=ApiKeyOutputSerializer)
    def get(self, request, key_id):
        key = selectors.api_key_get(actor_from_request(request), key_id)
        return Response(ApiKeyOutputSerializer(key).data)

    @extend_schema(operation_id="api_key_update", parameters=[ORGANIZATION_PARAMETER],
                   request=ApiKeyUpdateInputSerializer, responses=ApiKeyOutputSerializer)
    def patch(self, request, key_id):
        key = selectors.api_key_get(actor_from_request(request), key_id)
        key = services.api_key_update(api_key=key, grantor=actor_from_request(request),
                                      **_valid(ApiKeyUpdateInputSerializer, request))
        return Response(ApiKeyOutputSerializer(key).data)

    @extend_schema(operation_id="api_key_revoke", parameters=[ORGANIZATION_PARAMETER], responses={204: None})
    def delete(self, request, key_id):
        actor = actor_from_request(request)
        services.api_key_revoke(api_key=selectors.api_key_get(actor, key_id), actor_user=actor.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiKeyRegenerateApi(APIView):
    api_scope = "keys"

    @extend_schema(operation_id="api_key_regenerate", parameters=[ORGANIZATION_PARAMETER],
                   request=ApiKeyRegenerateInputSerializer,
                   responses={200: ApiKeyCreatedSerializer, **problems(409)})
    @sensitive_variables()
    def post(self, request, key_id):
        actor = actor_from_request(request)
        key = selectors.api_key_get(actor, key_id)
        grace = _valid(ApiKeyRegenerateInputSerializer, request)["grace_period_seconds"]
        key, raw = services.api_key_regenerate(api_key=key, grantor=actor, grace_period_seconds=grace)
        return _created(key, raw, status.HTTP_200_OK)


class ApiKeyDecryptApi(APIView):
    api_scope = "keys"

    @extend_schema(
        operation_id="api_key_decrypt",
        parameters=[ORGANIZATION_PARAMETER],
        description="Keys are stored hashed, so their value cannot be shown again: this always answers "
        "410 `key_not_recoverable`. Use `POST /api/v1/api-keys/{key_id}/regenerate` for a new value.",
        responses=problems(410),
        deprecated=True,
    )
    def get(self, request, key_id):
        key = selectors.api_key_get(actor_from_request(request), key_id)
        raise Gone(
            "Keys are stored only as a hash, so the value cannot be shown again. "
            f"Regenerate it with POST /api/v1/api-keys/{key.pk}/regenerate to get a new value.",
            code="key_not_recoverable",
            extra={"regenerate_url": f"/api/v1/api-keys/{key.pk}/regenerate"},
        )


class RestrictionsSerializer(StrictInputSerializer):
    allowed_ips = serializers.ListField(child=serializers.CharField(max_length=64), required=False,
                                        help_text="IPv4/IPv6 addresses and CIDR ranges; empty: any address.")
    allowed_referrers = serializers.ListField(child=serializers.CharField(max_length=260), required=False,
                                              help_text="Hosts or *.example.com patterns matched against "
                                                        "Origin/Referer; empty: any.")
    scopes = serializers.ListField(child=ScopeNameField(max_length=40), required=False,
                                   help_text="Any of: " + "; ".join(f"`{k}`: {v}" for k, v in SCOPES.items()))


def _restrictions_body(key) -> dict:
    return {"api_key_id": key.pk, "allowed_ips": key.allowed_ips, "allowed_referrers": key.allowed_referrers,
            "scopes": key.scopes, "available_scopes": SCOPES}


RestrictionsOutput = inline_serializer("KeyRestrictions", {
    "api_key_id": serializers.UUIDField(), "allowed_ips": serializers.ListField(child=serializers.CharField()),
    "allowed_referrers": serializers.ListField(child=serializers.CharField()),
    "scopes": serializers.ListField(child=ScopeNameField()),
    "available_scopes": serializers.DictField(child=serializers.CharField(),
                                              help_text="Each scope and what it allows.")})


class ApiKeyRestrictionsApi(APIView):
    """A key's restrictions: IP addresses, referrers and API areas (scopes)."""

    api_scope = "keys"

    @extend_schema(operation_id="api_key_restrictions_get", parameters=[ORGANIZATION_PARAMETER],
                   responses=RestrictionsOutput)
    def get(self, request, key_id):
        return Response(_restrictions_body(selectors.api_key_get(actor_from_request(request), key_id)))

    @extend_schema(operation_id="api_key_restrictions_set", parameters=[ORGANIZATION_PARAMETER],
                   request=RestrictionsSerializer, responses=RestrictionsOutput)
    def put(self, request, key_id):
        actor = actor_from_request(request)
        key = selectors.api_key_get(actor, key_id)
        data = _valid(RestrictionsSerializer, request)
        key = services.api_key_set_restrictions(api_key=key, grantor=actor, **data)
        return Response(_restrictions_body(key))


LegacyStatus = inline_serializer("LegacyStatus", {"has_legacy_keys": serializers.BooleanField(),
                                                  "legacy_key_count": serializers.IntegerField(),
                                                  "notice_shown": serializers.BooleanField()})


class LegacyStatusApi(APIView):
    """Whether the caller still has keys imported from the previous system."""

    required_scope = "keys:read"

    @extend_schema(operation_id="api_keys_legacy_status", parameters=[ORGANIZATION_PARAMETER], responses=LegacyStatus)
    def get(self, request):
        return Response(legacy_status(actor_from_request(request)))


class LegacyNoticeShownApi(APIView):
    required_scope = "keys:read"

    @extend_schema(operation_id="api_keys_legacy_notice_shown", parameters=[ORGANIZATION_PARAMETER], request=None,
                   responses=inline_serializer("StatusOk", {"status": serializers.CharField()}))
    def post(self, request):
        legacy_notice_mark_shown(actor_from_request(request))
        return Response({"status": "ok"})
