"""Leak reports from secret scanners, in the shape of GitHub's secret-scanning partner
program: a signed JSON list of found tokens. Every active Keyhouse key among them is revoked
at once, its owner is told, and the reply labels each token without saying anything about
tokens we never issued."""
import hashlib
import hmac

from django.conf import settings
from django.core.mail import send_mail
from django.views.decorators.debug import sensitive_variables

from config.errors import ApplicationError, ServiceUnavailable
from keys import crypto
from keys.audit import audit_record
from keys.models import ApiKey, AuditAction
from keys.services import api_key_revoke

SIGNATURE_HEADER = "Keyhouse-Signature"
MAX_TOKENS = 1000


class InvalidSignature(ApplicationError):
    status = 401
    code = "invalid_signature"


def signature_check(body: bytes, header: str) -> None:
    secret = settings.LEAK_REPORT_SECRET
    if not secret:
        raise ServiceUnavailable("Leak reports are not configured here (LEAK_REPORT_SECRET is unset).",
                                 code="leak_reports_disabled")
    expected = b"sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
    # Bytes: compare_digest raises TypeError on a str with a non-ASCII character, and a header
    # can carry any byte (WSGI hands it over as latin-1 text). Such a header just does not match.
    if not hmac.compare_digest(expected, (header or "").encode("utf-8", "replace")):
        raise InvalidSignature(f"The {SIGNATURE_HEADER} header does not match the body: sign the exact bytes sent "
                               "with HMAC-SHA256 under the shared secret, as sha256=<hex>.")


def _notify_owner(key: ApiKey, url: str) -> None:
    if key.owner.email:
        send_mail(
            f"Your API key {key.prefix}… was found in public and has been revoked",
            f"Hello {key.owner.get_username()},\n\nYour API key \"{key.name}\" ({key.prefix}…) in {key.company.name} "
            f"was reported found at {url or 'an unnamed location'}. It has been revoked and no longer works.\n\n"
            "Generate a new key in Settings > Advanced > API-keys and update the applications that used it.\n",
            None, [key.owner.email], fail_silently=True,
        )


@sensitive_variables("token")
def leak_report_process(reports: list[dict]) -> list[dict]:
    """Revoke each active key reported; label every token true_positive or false_positive."""
    results = []
    for report in reports:
        token = report["token"]
        key = None
        try:
            crypto.parse_key(token)
            key = ApiKey.objects.select_related("owner", "company").filter(key_hash=crypto.hash_key(token)).first()
        except crypto.MalformedKey:
            pass
        active = key is not None and key.is_active
        if active:
            api_key_revoke(api_key=key, revoked_by=None)
            audit_record(action=AuditAction.KEY_LEAKED, company=key.company, api_key=key, label="secret scanner",
                         changes={"url": report.get("url", "")[:500], "source": report.get("source", "")[:100]})
            _notify_owner(key, report.get("url", ""))
        results.append({"token_hash": hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest(),
                        "token_type": report.get("type", ""), "label": "true_positive" if active else "false_positive"})
    return results
