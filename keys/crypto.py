"""Generating, checksumming, hashing and masking API keys. No database access here.

A key is `sk_live_` or `sk_test_`, 32 random base62 characters (190 bits from `secrets`), and
a 6-character base62 CRC32 of everything before it, the way GitHub formats its tokens: a
mistyped or truncated key is refused without a database query, a scanner can tell a real
key from a look-alike, and after the prefix there are only letters and digits, so a
double-click selects the whole key.

Keys are stored as HMAC-SHA256 under a server-side pepper, not with Argon2: a random 190-bit
key has no dictionary to guess from, so a slow hash adds nothing but tens of milliseconds
to every request (djangorestframework-api-key dropped its slow hashers for that reason).
Passwords, which people choose, are the ones that get Argon2.
"""
import hashlib
import hmac
import re
import secrets
import string
import zlib
from dataclasses import dataclass, field

from django.conf import settings
from django.views.decorators.debug import sensitive_variables

LIVE_PREFIX = "sk_live_"
TEST_PREFIX = "sk_test_"
PREFIXES = {"live": LIVE_PREFIX, "test": TEST_PREFIX}
ALPHABET = string.digits + string.ascii_letters
RANDOM_LENGTH = 32
CHECKSUM_LENGTH = 6
KEY_LENGTH = len(LIVE_PREFIX) + RANDOM_LENGTH + CHECKSUM_LENGTH
# How much of the random part the display prefix shows: enough to tell keys apart at a glance.
VISIBLE_CHARS = 4
KEY_PATTERN = re.compile(r"\bsk_(?:live|test)_[0-9A-Za-z]{%d}\b" % (RANDOM_LENGTH + CHECKSUM_LENGTH), re.ASCII)
# A key anywhere in free text, without KEY_PATTERN's word boundaries: in a log line a key may
# follow a letter or digit ('/x' + key, '%20' + key) or run into the next word.
KEY_IN_TEXT = re.compile(r"sk_(?:live|test)_[0-9A-Za-z]{%d}" % (RANDOM_LENGTH + CHECKSUM_LENGTH), re.ASCII)


class MalformedKey(ValueError):
    """The text cannot be a Keyhouse key; `reason` says why, for the error message."""


@dataclass(frozen=True)
class ParsedKey:
    raw: str = field(repr=False)
    mode: str

    @property
    def display_prefix(self) -> str:
        return self.raw[: len(LIVE_PREFIX) + VISIBLE_CHARS]


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, rest = divmod(number, len(ALPHABET))
        chars.append(ALPHABET[rest])
    return "".join(reversed(chars))


@sensitive_variables()
def checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode("ascii")), CHECKSUM_LENGTH)


@sensitive_variables()
def generate_key(mode: str) -> str:
    body = PREFIXES[mode] + "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return body + checksum(body)


@sensitive_variables()
def parse_key(raw: str) -> ParsedKey:
    """Check the shape and checksum of a presented key, cheaply and without the database."""
    mode = next((mode for mode, prefix in PREFIXES.items() if raw.startswith(prefix)), None)
    if mode is None:
        raise MalformedKey(f"it does not start with {LIVE_PREFIX} or {TEST_PREFIX}")
    if len(raw) != KEY_LENGTH:
        raise MalformedKey(f"it has {len(raw)} characters; keys have {KEY_LENGTH}")
    tail = raw[len(LIVE_PREFIX) :]
    if not tail.isascii() or not tail.isalnum():
        raise MalformedKey("after the prefix a key has only letters and digits")
    body, check = raw[:-CHECKSUM_LENGTH], raw[-CHECKSUM_LENGTH:]
    if not hmac.compare_digest(checksum(body), check):
        raise MalformedKey("its checksum does not match, so it was mistyped or cut short")
    return ParsedKey(raw=raw, mode=mode)


@sensitive_variables()
def hash_key(raw: str) -> str:
    pepper = settings.API_KEY_PEPPER.encode()
    return hmac.new(pepper, raw.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


@sensitive_variables()
def legacy_hash(raw: str) -> str:
    """How the system we replace stored keys (plain SHA-256): imported keys are found by it."""
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def masked(display_prefix: str) -> str:
    return display_prefix + "…"


@sensitive_variables()
def mask_keys(text: str) -> str:
    """`text` with every key in it shown as the dashboard shows keys: sk_live_AbCd…"""
    return KEY_IN_TEXT.sub(lambda found: masked(found.group()[: len(LIVE_PREFIX) + VISIBLE_CHARS]), text)
