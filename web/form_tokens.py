"""One-time tokens for the create-key form. Without JavaScript, reloading the page that shows
a new key offers to send the form again, which would create a second key. Each rendered form
carries a token its session remembers; creating a key spends it, so one form makes one key.
A post without a token (a script) is not held to this: the token is for idempotency, CSRF
protection is Django's."""
import secrets

SESSION_KEY = "keyhouse_create_form_tokens"
OPEN_FORMS = 20  # forms (tabs) a session may have open at once


def form_token_issue(request) -> str:
    token = secrets.token_urlsafe(16)
    request.session[SESSION_KEY] = [*request.session.get(SESSION_KEY, [])[-(OPEN_FORMS - 1):], token]
    return token


def form_token_unspent(request, token: str) -> bool:
    """False when the token was spent already, or is not one this session issued."""
    return not token or token in request.session.get(SESSION_KEY, [])


def form_token_spend(request, token: str) -> None:
    """Once the form made its key; a form refused for bad input can be corrected and sent again."""
    tokens = request.session.get(SESSION_KEY, [])
    if token in tokens:
        tokens.remove(token)
        request.session[SESSION_KEY] = tokens
