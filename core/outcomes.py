"""Every way a presented key can end, in one table: the error code a script branches on and the
message a person acts on; the code's status and title are its row of core.errors.PROBLEMS.
Authentication, restrictions and limits raise `KeyRefused(status, **context)`; the exception
handler renders it like any other error.
"""
from dataclasses import dataclass
from enum import StrEnum

from rest_framework.exceptions import APIException

from core.errors import PROBLEMS, ApplicationError

WWW_AUTHENTICATE = 'ApiKey realm="api", Bearer realm="api"'
SETTINGS_PAGE = "Settings > Advanced > API-keys"


class KeyStatus(StrEnum):
    VALID = "valid"
    MISSING = "missing"
    IN_QUERY = "in_query"
    AMBIGUOUS = "ambiguous"
    MALFORMED = "malformed"
    UNKNOWN = "unknown"
    REVOKED = "revoked"
    EXPIRED = "expired"
    REGENERATED = "regenerated"  # the old value of a regenerated key, past its grace period
    OWNER_INACTIVE = "owner_inactive"
    IP_REFUSED = "ip_refused"
    REFERRER_REFUSED = "referrer_refused"
    SCOPE_REFUSED = "scope_refused"
    GRACE_VALUE_REFUSED = "grace_value_refused"  # an old value in its grace period, asked to manage keys
    REQUEST_LIMIT_EXCEEDED = "request_limit_exceeded"
    BUDGET_EXCEEDED = "budget_exceeded"
    MANAGEMENT_RATE_EXCEEDED = "management_rate_exceeded"  # Keyhouse's own routes, called too often


@dataclass(frozen=True)
class Outcome:
    code: str
    message: str  # str.format()ed with the refusal's context


OUTCOMES: dict[KeyStatus, Outcome] = {
    KeyStatus.MISSING: Outcome("missing_api_key",
                               "Send your API key in the API-Key, X-API-Key or Authorization: Bearer header."),
    KeyStatus.IN_QUERY: Outcome("api_key_in_query",
                                "API keys go in a header (API-Key, X-API-Key or Authorization: Bearer), never in the "
                                "URL, where proxies and logs keep them. Treat this key as exposed and regenerate it."),
    KeyStatus.AMBIGUOUS: Outcome("ambiguous_api_key",
                                 "Send one API key in one header; this request carries different keys."),
    KeyStatus.MALFORMED: Outcome("invalid_api_key", "This is not a valid API key: {why}."),
    KeyStatus.UNKNOWN: Outcome("invalid_api_key",
                               "This API key does not exist; check that you copied the whole key."),
    KeyStatus.REVOKED: Outcome("revoked_api_key",
                               "This API key was revoked on {revoked_at:%Y-%m-%d}; create a new key in "
                               f"{SETTINGS_PAGE}."),
    KeyStatus.EXPIRED: Outcome("expired_api_key",
                               "This API key expired on {expired_at}; create a new key or ask an "
                               "admin to extend it."),
    KeyStatus.REGENERATED: Outcome("expired_api_key",
                                   "This is the old value of a regenerated key{until}. Use the new value."),
    KeyStatus.OWNER_INACTIVE: Outcome("inactive_owner",
                                      "The owner of this API key no longer has access to its company."),
    KeyStatus.IP_REFUSED: Outcome("ip_not_allowed",
                                  "This key only works from {allowed}; this request came from {client_ip}."),
    KeyStatus.REFERRER_REFUSED: Outcome("referrer_not_allowed",
                                        "This key only works for pages on {allowed}; the request's Origin/Referer "
                                        "was {referrer}."),
    KeyStatus.SCOPE_REFUSED: Outcome("scope_not_allowed",
                                     "This key lacks the {required_scope} scope; it has {has}. Ask its owner or an "
                                     "admin to add the scope, or use another key."),
    KeyStatus.GRACE_VALUE_REFUSED: Outcome("grace_period_value",
                                           "This is the old value of a regenerated key, accepted until {until} for "
                                           "reads and product calls only; it cannot manage keys. Use the new value."),
    KeyStatus.REQUEST_LIMIT_EXCEEDED: Outcome("request_limit_exceeded",
                                              "This key has used its {period} request limit; it resets in {seconds} "
                                              "seconds ({reset_at}). Ask a company admin to raise the limit if you "
                                              "need more."),
    KeyStatus.BUDGET_EXCEEDED: Outcome("budget_limit_exceeded",
                                       "This key has used its {period} budget; it resets in {seconds} seconds "
                                       "({reset_at}). Ask a company admin to raise the limit if you need more."),
    KeyStatus.MANAGEMENT_RATE_EXCEEDED: Outcome("management_rate_limit_exceeded",
                                                "This key made more than {limit} requests a minute to Keyhouse's own "
                                                "routes (keys, limits, usage, audit); retry in {seconds} seconds."),
}


class KeyRefused(ApplicationError, APIException):
    """A request refused for its key. An APIException too, so DRF marks the request as not
    authenticated instead of trying again."""

    def __init__(self, status: KeyStatus, *, extra: dict | None = None, headers: dict | None = None, **context):
        outcome = OUTCOMES[status]
        if PROBLEMS[outcome.code].status == 401:
            headers = {"WWW-Authenticate": WWW_AUTHENTICATE, **(headers or {})}
        super().__init__(outcome.message.format(**context), code=outcome.code, extra=extra, headers=headers)
        self.status_code = self.status
        self.key_status = status

