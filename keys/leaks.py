"""Leak reports from secret scanners, in the shape of GitHub's secret-scanning partner
program: a signed JSON list of found tokens. A token is matched as a key's current value, the
old value of a regenerated key still in its grace period, or a key imported from the system we
replace. Every working one stops at once (the key is revoked, or the grace period ends), its
owner is told, the keys made with it are named, and the reply labels each token without
saying anything about tokens we never issued."""
import hashlib
import hmac
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from audit.models import AuditAction
from audit.services import audit_record
from core import crypto
from core.errors import ApplicationError, ServiceUnavailable
from keys.models import ApiKey, KeyState
from keys.selectors import api_key_by_hashes
from keys.services import api_key_end_grace, api_key_revoke
from keys.tasks import leak_notice_send
from keys.verification import MAX_LEGACY_LENGTH

SIGNATURE_HEADER = "Keyhouse-Signature"
MAX_TOKENS = 1000


class InvalidSignature(ApplicationError):
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


@dataclass(frozen=True)
class LeakedValue:
    """A key one of whose values was found in public, and what was done about it."""

    key: ApiKey
    was_previous: bool  # the old value of a regenerated key, not its current one
    was_working: bool  # the value authenticated until now
    created_keys: tuple  # active keys made with this key, which its holder may also have

    @property
    def status(self) -> str:
        if not self.was_working:
            return KeyState.REVOKED if self.key.is_revoked else KeyState.EXPIRED
        return "old value: grace period ended now" if self.was_previous else "active → revoked now"


@sensitive_variables("raw")
def leaked_value_find(raw: str) -> tuple[ApiKey | None, bool]:
    """The key a found value belongs to, as the current value, the old one of a regenerate
    (grace period) or a legacy import, and whether it was that old value."""
    if len(raw) > MAX_LEGACY_LENGTH:
        return None, False
    key, matched = api_key_by_hashes(crypto.candidate_hashes(raw, legacy=True))
    if key is not None and matched == key.previous_key_hash:
        return key, True
    return key, False


def leaked_value_disable(key: ApiKey, was_previous: bool, *, disable: bool = True) -> LeakedValue:
    """Make the leaked value stop working: end the grace period of an old value (the current
    one was not leaked), or revoke the key. `disable=False` only reports."""
    now = timezone.now()
    if was_previous:
        working = bool(not key.is_revoked and key.previous_expires_at and key.previous_expires_at > now)
        if working and disable:
            api_key_end_grace(api_key=key)
    else:
        working = key.is_active
        if working and disable:
            api_key_revoke(api_key=key, actor_user=None)
    created = tuple(key.keys_created.active().order_by("created_at"))
    return LeakedValue(key=key, was_previous=was_previous, was_working=working, created_keys=created)


def _leak_record(leak: LeakedValue, report: dict) -> None:
    key, created = leak.key, [str(k.pk) for k in leak.created_keys]
    # The page a key was found on may have the key in its address.
    url = crypto.mask_keys(report.get("url", ""))
    audit_record(action=AuditAction.KEY_LEAKED, company=key.company, api_key=key, label="secret scanner",
                 changes={"url": url[:500], "source": report.get("source", "")[:100],
                          "value": "previous" if leak.was_previous else "current", "keys_created_with_it": created})
    if key.owner.email:
        leak_notice_send.enqueue(api_key_id=str(key.pk), was_previous=leak.was_previous, url=url,
                                 created_key_ids=created)


@sensitive_variables("token")
def leak_report_process(reports: list[dict]) -> list[dict]:
    """Stop each working value reported (revoke the key, or end the grace period of an old
    value); label every token true_positive or false_positive, naming the keys made with it."""
    results = []
    for report in reports:
        token = report["token"]
        key, was_previous = leaked_value_find(token)
        leak = None
        if key is not None:
            # The owner's mail is queued in the transaction that stops the value (the queue is
            # a table in this database): both happen or neither, and the worker sends it.
            with transaction.atomic():
                leak = leaked_value_disable(key, was_previous)
                if leak.was_working:
                    _leak_record(leak, report)
        results.append({"token_hash": hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest(),
                        "token_type": report.get("type", ""),
                        "label": "true_positive" if leak is not None and leak.was_working else "false_positive",
                        "keys_created_with_it": [str(k.pk) for k in leak.created_keys] if leak else []})
    return results
