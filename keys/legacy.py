"""Keys imported from the system we replace: their status for a
person, the notice they can dismiss, and the deprecation headers on every response to one."""
from django.utils import timezone

from accounts.models import Membership

REGENERATE_DOC = "/api/docs/#/api-keys/api_key_regenerate"


def legacy_status(actor) -> dict:
    count = actor.user.api_keys.filter(company=actor.company, is_legacy=True).active().count()
    shown = Membership.objects.filter(user=actor.user, company=actor.company,
                                      legacy_notice_shown_at__isnull=False).exists()
    return {"has_legacy_keys": count > 0, "legacy_key_count": count, "notice_shown": shown}


def legacy_notice_mark_shown(actor) -> None:
    Membership.objects.filter(user=actor.user, company=actor.company, legacy_notice_shown_at__isnull=True).update(
        legacy_notice_shown_at=timezone.now())


class LegacyKeyNoticeMiddleware:
    """Every response to a legacy key says so (RFC 9745 Deprecation, a Link to how to rotate,
    and a Warning for clients that print those)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        verification = getattr(request, "key_verification", None)
        key = verification and verification.grant
        if key is not None and key.is_legacy:
            response["Deprecation"] = "true"
            response["Link"] = (f'</api/v1/api-keys/{key.pk}/regenerate>; rel="successor-version", '
                                f'<{REGENERATE_DOC}>; rel="deprecation"')
            response["Warning"] = ('299 - "This is a legacy API key imported from the previous system; regenerate '
                                   'it (POST /api/v1/api-keys/{id}/regenerate) and switch to the new value."')
        return response
