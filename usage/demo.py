"""Example protected endpoints: how a host application prices its own views. A view names
its tier; the key's limits, the price and the request log follow from that alone."""
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.serializers import StrictInputSerializer


class DemoEchoApi(APIView):
    usage_tier = "standard"
    required_scope = "demo"

    @extend_schema(operation_id="demo_echo", responses=inline_serializer(
        "DemoEcho", {"tier": serializers.CharField(), "query": serializers.DictField()}))
    def get(self, request):
        """Echoes the query string back; priced at the `standard` tier."""
        query = {name: value[:200] for name, value in list(request.query_params.items())[:20]}
        return Response({"tier": self.usage_tier, "query": query})


class DemoReportInputSerializer(StrictInputSerializer):
    title = serializers.CharField(max_length=200)


class DemoReportApi(APIView):
    usage_tier = "premium"
    required_scope = "demo"

    @extend_schema(operation_id="demo_report", request=DemoReportInputSerializer, responses=inline_serializer(
        "DemoReport", {"tier": serializers.CharField(), "title": serializers.CharField(),
                       "words": serializers.IntegerField()}))
    def post(self, request):
        """Builds a tiny report; priced at the `premium` tier."""
        data = DemoReportInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        title = data.validated_data["title"]
        return Response({"tier": self.usage_tier, "title": title, "words": len(title.split())})
