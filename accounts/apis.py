from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import actor_from_request

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
             "mode": serializers.CharField(), "expires_at": serializers.DateTimeField(allow_null=True)},
            allow_null=True,
        ),
    },
)


class MeApi(APIView):
    """The first call a script makes: is my key good, whose is it, which company, which mode."""

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
