"""What key owners are told by mail, and which expiry notices are due. The mails name a key by
its name, prefix and id: no mail ever carries a key's value. The worker sends them (keys.tasks)."""
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import cast

from django.utils import timezone

from keys.models import ApiKey, ExpiryNotice


def leak_mail(key: ApiKey, *, was_previous: bool, url: str, created_keys) -> tuple[str, str]:
    """Subject and body telling the owner that a value of `key` was found in public."""
    what = ("The old value of your API key" if was_previous else "Your API key") + f" \"{key.name}\""
    done = ("Its grace period has ended, so only the current value works now."
            if was_previous else "It has been revoked and no longer works.")
    created = "".join(f"\n- \"{k.name}\" ({k.prefix}…), id {k.pk}" for k in created_keys)
    created = (f"\n\nThese active keys were created with it; whoever has it may have them too. Revoke them if "
               f"you did not create them yourself:{created}") if created else ""
    return (f"Your API key {key.prefix}… was found in public",
            f"Hello {key.owner.get_username()},\n\n{what} ({key.prefix}…) in {key.company.name} was reported found at "
            f"{url or 'an unnamed location'}. {done}{created}\n\n"
            "Generate a new key in Settings > Advanced > API-keys and update the applications that used it.\n")


def expiry_mail(key: ApiKey) -> tuple[str, str]:
    return (f"Your API key \"{key.name}\" expires on {key.expires_at:%Y-%m-%d}",
            f"Hello {key.owner.get_username()},\n\nYour API key \"{key.name}\" ({key.prefix}…) in "
            f"{key.company.name} stops working at {key.expires_at:%Y-%m-%d %H:%M} UTC.\n\n"
            "To keep your applications running, generate a new key in Settings > Advanced > API-keys "
            "(or regenerate this one with a grace period) and update them before then.\n")


@dataclass
class ExpiryNotices:
    new: int = 0
    unsent: int = 0  # recorded by an earlier run and not sent yet: the worker tries again
    sent_before: int = 0
    no_email: list = field(default_factory=list)  # keys due whose owner has no address


def expiry_notices_record(*, within: timedelta) -> ExpiryNotices:
    """One notice per active key expiring within `within` and its expiry date, unless there is
    one already; the unique constraint keeps two runs at once from recording it twice."""
    now = timezone.now()
    due = (ApiKey.objects.active(now).filter(expires_at__lte=now + within)
           .select_related("owner").order_by("expires_at"))
    notices = ExpiryNotices()
    for key in due:
        if not key.owner.email:
            notices.no_email.append(key)
            continue
        notice, created = ExpiryNotice.objects.get_or_create(api_key=key, expires_at=cast(datetime, key.expires_at))
        if created:
            notices.new += 1
        elif notice.sent_at is None:
            notices.unsent += 1
        else:
            notices.sent_before += 1
    return notices
