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

A stored hash names its scheme, and for HMAC the pepper it was made with, by a fingerprint:
`hmac-sha256$<pepper id>$<hex>`, or `sha256$<hex>` for a key imported from the system we
replace. API_KEY_PEPPERS lists peppers newest first, so a pepper can be rotated without
invalidating any key: a key found under an older pepper (or the legacy scheme) is re-hashed
under the newest one on its first successful use (docs/pepper-rotation.md).
"""
import functools
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
# A key anywhere in text, without word boundaries: in a URL, a log line or a file a key may
# follow a letter or digit ('/x' + key, '%20' + key, 'Bearer' + key) or run into the next word.
KEY_PATTERN = re.compile(rf"sk_(?:live|test)_[0-9A-Za-z]{{{RANDOM_LENGTH + CHECKSUM_LENGTH}}}", re.ASCII)
# What masking hides: a key, and any piece of one longer than what the dashboard shows. A key
# cut short (a column's length, a copy that missed its end) is its secret all the same: the
# checksum it lost can be worked out again from the rest.
KEY_FRAGMENT_PATTERN = re.compile(rf"sk_(?:live|test)_[0-9A-Za-z]{{{VISIBLE_CHARS + 1},}}", re.ASCII)
# What a key's name may not hold (keys.models.key_name_validator): such a piece where a key
# would begin, not inside a word ('task_test_runner' names a task), and anywhere a run too long
# for a word, 24 of the 32 random characters or more: a key cut short, whatever precedes it.
NAME_KEY_PATTERN = re.compile(rf"(?<![0-9A-Za-z])sk_(?:live|test)_[0-9A-Za-z]{{{VISIBLE_CHARS + 1},}}"
                              rf"|sk_(?:live|test)_[0-9A-Za-z]{{{RANDOM_LENGTH - 8},}}", re.ASCII)


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


HMAC_SCHEME = "hmac-sha256"
LEGACY_SCHEME = "sha256"
HASH_SEPARATOR = "$"


@functools.lru_cache(maxsize=8)
def pepper_id(pepper: str) -> str:
    """A short public name for a pepper; it tells which pepper made a hash, and nothing of it."""
    return hashlib.sha256(b"keyhouse-pepper-id:" + pepper.encode()).hexdigest()[:8]


def _peppers() -> list[str]:
    return settings.API_KEY_PEPPERS


@sensitive_variables()
def hash_key(raw: str, pepper: str | None = None) -> str:
    """The stored form of a key: HMAC-SHA256 under the newest pepper unless another is named."""
    pepper = pepper or _peppers()[0]
    mac = _keyed(pepper).copy()
    mac.update(raw.encode("utf-8", "surrogatepass"))
    return HASH_SEPARATOR.join((HMAC_SCHEME, pepper_id(pepper), mac.hexdigest()))


@sensitive_variables()
def fingerprint(raw: str) -> bytes:
    """The SHA-256 of a presented value: how a worker recognises a value it verified lately
    (keys.cache.local_copy) for a quarter of the cost of its HMAC. Kept in memory only, and
    only for values that matched a key, whose 190 random bits no digest gives back."""
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).digest()


@functools.lru_cache(maxsize=8)
def _keyed(pepper: str) -> hmac.HMAC:
    """An HMAC keyed with this pepper, to copy: keying one costs as much again as hashing a key
    with it, and every keyed request hashes the value it presents."""
    return hmac.new(pepper.encode(), digestmod=hashlib.sha256)


@sensitive_variables()
def legacy_hash(raw: str) -> str:
    """How the system we replace stored keys (plain SHA-256): imported keys are found by it."""
    return legacy_stored(hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest())


def legacy_stored(sha256_hex: str) -> str:
    """The stored form of a legacy key known only by the SHA-256 hex of its value."""
    return LEGACY_SCHEME + HASH_SEPARATOR + sha256_hex.lower()


@sensitive_variables()
def candidate_hashes(raw: str, *, legacy: bool = False) -> list[str]:
    """Every stored form this value may have: under each pepper, newest first, and the legacy
    scheme when asked. The first is the form it is re-hashed to."""
    hashes = [hash_key(raw, pepper) for pepper in _peppers()]
    return hashes + [legacy_hash(raw)] if legacy else hashes


def masked(display_prefix: str) -> str:
    return display_prefix + "…"


@sensitive_variables()
def mask_keys(text: str, pattern: re.Pattern[str] = KEY_FRAGMENT_PATTERN) -> str:
    """`text` with every key, or piece of one, in it shown as the dashboard shows keys: sk_live_AbCd…"""
    if isinstance(text, str) and "sk_" not in text:  # every key starts so; cheaper than a search
        return text
    return pattern.sub(lambda found: masked(found.group()[: len(LIVE_PREFIX) + VISIBLE_CHARS]), text)
