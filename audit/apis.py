"""GET /api/v1/audit-events: who changed which key or membership, and refused key uses."""
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.views import APIView

from accounts.access import actor_from_request
from audit.models import AuditAction, AuditEvent
from audit.selectors import audit_events_visible_to
from core.pagination import CursorPagination
from core.schema import CURSOR_PARAMETERS, ORGANIZATION_PARAMETER, cursor_paginated
from core.serializers import AsciiIntegerField, AwareDateTimeField, query_parameters


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()
    api_key = serializers.SerializerMethodField()
    changes = serializers.DictField(help_text="What changed, by action: {field: {before, after}} for a change, "
                                              "the new values for a creation; never a secret.")

    class Meta:
        model = AuditEvent
        fields = ["id", "created_at", "action", "surface", "actor", "api_key", "target_user_id", "ip",
                  "user_agent", "changes"]

    @extend_schema_field(inline_serializer("AuditActor", {
        "user_id": serializers.IntegerField(allow_null=True),
        "label": serializers.CharField(help_text="Username at the time, or `operator` for a command."),
        "api_key_id": serializers.UUIDField(allow_null=True, help_text="The key the actor used, if any.")}))
    def get_actor(self, event) -> dict:
        return {"user_id": event.actor_user_id, "label": event.actor_label, "api_key_id": event.actor_key_id}

    @extend_schema_field(
        inline_serializer(
            "AuditKey", {"id": serializers.UUIDField(), "label": serializers.CharField()}, allow_null=True
        )
    )
    def get_api_key(self, event) -> dict | None:
        return {"id": event.api_key_id, "label": event.api_key_label} if event.api_key_id else None


class AuditFilterSerializer(serializers.Serializer):
    key = serializers.UUIDField(required=False, help_text="Only events about this key.")
    actor = AsciiIntegerField(
        required=False, min_value=1, max_value=2**63 - 1, help_text="Only events by this user id."
    )
    action = serializers.ChoiceField(choices=AuditAction.values, required=False)
    since = AwareDateTimeField(required=False, help_text="From this time (inclusive), ISO 8601 with a zone.")
    until = AwareDateTimeField(required=False, help_text="Before this time, ISO 8601 with a zone.")


class AuditEventListApi(APIView):
    api_scope = "audit"

    @extend_schema(
        operation_id="audit_events_list",
        parameters=[ORGANIZATION_PARAMETER, AuditFilterSerializer, *CURSOR_PARAMETERS],
        responses=cursor_paginated(AuditEventSerializer, "AuditEventPage"),
    )
    def get(self, request):
        actor = actor_from_request(request)
        data = query_parameters(AuditFilterSerializer(data={k: v for k, v in request.query_params.items() if k in
                                                            AuditFilterSerializer().fields}))
        events = audit_events_visible_to(actor, api_key_id=data.get("key"), actor_user_id=data.get("actor"),
                                         action=data.get("action"), since=data.get("since"), until=data.get("until"))
        return CursorPagination().response(request, events, AuditEventSerializer)
