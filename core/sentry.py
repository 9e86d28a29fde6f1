"""Error reports to Sentry when SENTRY_DSN is set (sentry-sdk). A report carries what Django's
mailed reports carry, so every string in it is masked before it leaves: a key in a header, the
URL, a local variable or an exception message becomes its display prefix."""
import sentry_sdk
from sentry_sdk.integrations.django import DjangoIntegration

from core.crypto import mask_keys


def _masked(value):
    if isinstance(value, str):
        return mask_keys(value)
    if isinstance(value, dict):
        return {_masked(k): _masked(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_masked(item) for item in value]
    return value


def scrub(event, hint):
    return _masked(event)


def sentry_init(dsn: str, *, environment: str, release: str, transport=None) -> None:
    sentry_sdk.init(dsn=dsn, environment=environment, release=release, integrations=[DjangoIntegration()],
                    before_send=scrub, before_send_transaction=scrub,
                    transport=transport)
