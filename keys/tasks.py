"""Mail to key owners, sent by the worker (`manage.py db_worker`), never in a request or a
transaction: an SMTP round trip must hold up neither a scanner's report nor SQLite's write
lock, which every request log write waits for. A task's arguments are stored in the queue
table, so they name keys by id, never by value."""
import logging
from datetime import timedelta

from django.core.mail import send_mail
from django.db.models import F
from django.utils import timezone
from django_tasks import task

from keys import notices
from keys.models import ApiKey, ExpiryNotice

logger = logging.getLogger(__name__)

# A mail the server refused or never took is tried again after each of these, in a new task;
# after the last the failed tasks stay in the queue table (Django admin, for superusers).
RETRY_AFTER = (timedelta(minutes=1), timedelta(minutes=10), timedelta(hours=1), timedelta(hours=6))
# How long a worker has to send an expiry notice it took before another may (it died, say).
CLAIM_FOR = timedelta(minutes=15)


class MailNotSent(Exception):
    pass


def _again_later(task_, attempt: int, **kwargs) -> None:
    if attempt <= len(RETRY_AFTER):
        task_.using(run_after=timezone.now() + RETRY_AFTER[attempt - 1]).enqueue(attempt=attempt + 1, **kwargs)


@task()
def leak_notice_send(*, api_key_id: str, was_previous: bool, url: str, created_key_ids: list[str],
                     attempt: int = 1) -> str:
    key = ApiKey.objects.select_related("owner", "company").filter(pk=api_key_id).first()
    if key is None or not key.owner.email:
        return "nobody to tell"
    created = ApiKey.objects.filter(pk__in=created_key_ids).order_by("created_at")
    subject, body = notices.leak_mail(key, was_previous=was_previous, url=url, created_keys=created)
    try:
        send_mail(subject, body, None, [key.owner.email])
    except OSError:  # smtplib's errors too
        _again_later(leak_notice_send, attempt, api_key_id=api_key_id, was_previous=was_previous, url=url,
                     created_key_ids=created_key_ids)
        raise
    return "sent"


def _claim(notice: ExpiryNotice) -> bool:
    """One UPDATE, so of two workers at the same notice only one sends it."""
    now = timezone.now()
    return bool(ExpiryNotice.objects.filter(pk=notice.pk, sent_at=None).exclude(claimed_until__gt=now)
                .update(claimed_until=now + CLAIM_FOR))


@task()
def expiry_notices_send(*, attempt: int = 1) -> dict:
    """Send every expiry notice recorded and not sent yet whose key still expires then; each is
    marked sent once the mail server took it, so a failed one is tried again, and only then."""
    now = timezone.now()
    due = (ExpiryNotice.objects.filter(sent_at=None, expires_at__gt=now, api_key__revoked_at=None,
                                       api_key__expires_at=F("expires_at"))
           .exclude(api_key__owner__email="").exclude(claimed_until__gt=now)
           .select_related("api_key__owner", "api_key__company").order_by("expires_at"))
    sent = failed = 0
    for notice in due:
        if not _claim(notice):
            continue
        key = notice.api_key
        try:
            send_mail(*notices.expiry_mail(key), None, [key.owner.email])
        except OSError:
            logger.warning("Expiry notice for key %s not sent; it is tried again later.", key.pk, exc_info=True)
            ExpiryNotice.objects.filter(pk=notice.pk).update(claimed_until=None)
            failed += 1
            continue
        ExpiryNotice.objects.filter(pk=notice.pk).update(sent_at=timezone.now(), claimed_until=None)
        sent += 1
    if failed:
        _again_later(expiry_notices_send, attempt)
        raise MailNotSent(f"{failed} expiry notice(s) not sent ({sent} sent); they are tried again later.")
    return {"sent": sent}
