"""POST /api/v1/leaks: where secret scanners report Keyhouse keys they found in public."""
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.schema import problems
from core.serializers import StrictInputSerializer
from keys.leaks import MAX_TOKENS, SIGNATURE_HEADER, leak_report_process, signature_check


class LeakReportSerializer(StrictInputSerializer):
    token = serializers.CharField(max_length=1000, trim_whitespace=False)
    type = serializers.CharField(max_length=100, required=False, allow_blank=True)
    url = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    source = serializers.CharField(max_length=100, required=False, allow_blank=True)  # type: ignore[assignment]


class LeakResultSerializer(serializers.Serializer):
    token_hash = serializers.CharField(help_text="SHA-256 of the token, hex; the token itself is not echoed.")
    token_type = serializers.CharField()
    label = serializers.ChoiceField(choices=["true_positive", "false_positive"],  # type: ignore[assignment]
                                    help_text="true_positive: the value worked until this report, and now does not.")
    keys_created_with_it = serializers.ListField(
        child=serializers.UUIDField(), help_text="Ids of the active keys created with the reported key: whoever "
                                                 "holds it may hold these too.")


class LeakReportApi(APIView):
    """Signed, not keyed: the scanner proves itself with an HMAC of the body. Its answer is a
    bare JSON array, unlike every other list (`items`): the partner program's format, which the
    scanners parse."""

    authentication_classes = []
    permission_classes = []
    required_scope = None

    @extend_schema(
        operation_id="leaks_report",
        request=LeakReportSerializer(many=True),
        responses={200: LeakResultSerializer(many=True), **problems(401)},
        parameters=[OpenApiParameter(SIGNATURE_HEADER, str, OpenApiParameter.HEADER, required=True,
                                     description="sha256=<hex HMAC-SHA256 of the raw body under LEAK_REPORT_SECRET>")],
        auth=[],
    )
    def post(self, request):
        signature_check(request.body, request.headers.get(SIGNATURE_HEADER, ""))
        reports = LeakReportSerializer(data=request.data, many=True, max_length=MAX_TOKENS)
        reports.is_valid(raise_exception=True)
        return Response(leak_report_process(reports.validated_data))
