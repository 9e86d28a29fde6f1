"""One-time tokens for the create-key form. Without JavaScript, reloading the page that shows
a new key offers to send the form again, which would create a second key. Each rendered form
carries a signed random token; creating a key records it as spent in the session, so one form
makes one key. Rendering a form stores nothing, so no number of open tabs or reloads can push
out a form that has not made its key yet (a bounded list of issued tokens did: the 21st render
made the first tab's form answer 409 with no key made). A post without a token (a script) is
not held to this: the token is for idempotency, CSRF protection is Django's."""
import secrets
from datetime import timedelta

from django.core import signing

SESSION_KEY = "keyhouse_spent_form_tokens"
SALT = "keyhouse.create-form-token"
# A form older than this is refused as too old: its token could have been forgotten as spent.
MAX_AGE = timedelta(days=1)
# Spent tokens remembered per session; far more keys than anyone makes from forms in a day.
SPENT_KEPT = 200


def form_token_issue(request) -> str:
    return signing.TimestampSigner(salt=SALT).sign(secrets.token_urlsafe(16))


def _nonce(token: str) -> str | None:
    try:
        return signing.TimestampSigner(salt=SALT).unsign(token, max_age=MAX_AGE)
    except signing.BadSignature:  # forged, damaged or too old (SignatureExpired is one)
        return None


def form_token_unspent(request, token: str) -> bool:
    """False when the token was spent already, is too old, or was not signed here."""
    if not token:
        return True
    nonce = _nonce(token)
    return nonce is not None and nonce not in request.session.get(SESSION_KEY, [])


def form_token_spend(request, token: str) -> None:
    """Once the form made its key; a form refused for bad input can be corrected and sent again."""
    nonce = _nonce(token)
    if nonce is not None:
        request.session[SESSION_KEY] = [*request.session.get(SESSION_KEY, [])[-(SPENT_KEPT - 1):], nonce]
