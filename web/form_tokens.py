"""One-time tokens for the create-key form. Without JavaScript, reloading the page that shows
a new key offers to send the form again; a double click or a flaky network sends it twice at
once. Each rendered form carries a random nonce signed for the person it was rendered for, and
the key it makes stores that nonce in a unique column (ApiKey.creation_token): the database,
not the session, decides, so two racing posts of one form make one key, and the second finds
it. Rendering a form stores nothing and a token never grows old, so no number of tabs, reloads
or days can make a form whose key was not made refuse to make it. A post without a token (a
script) is not held to this: the token is for idempotency, CSRF protection is Django's."""
import secrets

from django.core import signing

SALT = "keyhouse.create-form-token"


def _signer(request) -> signing.Signer:
    # Signed for this person: a token copied from someone else's page is not valid here.
    return signing.Signer(salt=f"{SALT}:{request.user.pk}")


def form_token_issue(request) -> str:
    return _signer(request).sign(secrets.token_urlsafe(16))


def form_token_nonce(request, token: str) -> str | None:
    """The nonce to store with the key the form makes; None when the token was not signed here
    for this person (forged, damaged, or another person's)."""
    try:
        return _signer(request).unsign(token)
    except signing.BadSignature:
        return None
