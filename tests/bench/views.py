"""The views `make bench` compares: the same "who am I" answer behind no authentication at
all (the control), djangorestframework-api-key's HasAPIKey and DRF's TokenAuthentication.
Rows (b1), (b1k) and (b2) call Keyhouse's product route /api/v1/demo/echo, row (bm) the real
/api/v1/me, both behind Keyhouse's own key authentication, logging and limits."""
from django.http import JsonResponse
from rest_framework.authentication import TokenAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_api_key.models import APIKey
from rest_framework_api_key.permissions import HasAPIKey

from keys.company_apis import MeApi

CONTROL_BODY = {
    "user": {"id": 1, "username": "bench", "email": "bench@example.com"},
    "company": {"id": 1, "name": "Bench"},
    "role": "owner",
    "authenticated_with": "none",
    "api_key": None,
}


def bare_django(request):
    """The floor under (a): Django's middleware and URL resolution, no DRF."""
    return JsonResponse(CONTROL_BODY)


class ControlApi(APIView):
    """(a): the whole middleware and DRF stack, no authentication, no database."""

    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = ()

    def get(self, request):
        return Response(CONTROL_BODY)


class HasAPIKeyKeeping(HasAPIKey):
    """HasAPIKey's own check (prefix lookup, SHA-512 verify, expiry), keeping the key it found
    so the view can answer with it, as a view using that library would look it up."""

    def has_permission(self, request, view) -> bool:
        key = self.get_key(request)
        if not key:
            return False
        try:
            api_key = APIKey.objects.get_from_key(key)
        except APIKey.DoesNotExist:
            return False
        if api_key.has_expired:
            return False
        request.bench_api_key = api_key
        return True


class HasAPIKeyMeApi(APIView):
    """(c): djangorestframework-api-key; no logging, no limits. Its keys have no owner or
    company, so the answer carries the key only: less work than (b), never more."""

    authentication_classes = ()
    permission_classes = (HasAPIKeyKeeping,)
    throttle_classes = ()

    def get(self, request):
        key = request.bench_api_key
        return Response({**CONTROL_BODY, "authenticated_with": "api_key",
                         "api_key": {"id": key.pk, "name": key.name, "prefix": key.prefix, "mode": "live",
                                     "expires_at": key.expiry_date}})


class TokenMeApi(MeApi):
    """(d): the real MeApi behind DRF's TokenAuthentication (one query for the token and its
    user, one for the membership); no logging, no limits."""

    authentication_classes = (TokenAuthentication,)
    throttle_classes = ()
