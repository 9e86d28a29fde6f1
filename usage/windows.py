"""A key's requests to Keyhouse's own routes in the current minute, counted across every worker
and node: the management abuse limit (usage.limits) is exact, and the RateLimit fields of a
response are the count as of the answering worker's last lease, every worker's lease counted as
used (usage.leases).

The store holds, per key and minute, how much of the minute's quota has been leased to workers:
a worker takes a block of it with one atomic operation (`take`), admits that many requests
locally (usage.leases) and gives back what it did not use (`give_back`). The store never hands
out more than the limit in all, so the limit is an exact ceiling, and a request costs a round
trip only when its worker's block is spent. The operation is a Lua script in Redis when the cache
is Redis, otherwise one transaction on the key's one row in the database. Unlike the product
counters (usage.counters) this one fails open: a store that does not answer must not stop an
owner from revoking a leaked key or lifting a limit, and an abuse limit that counts nothing for
a while costs less than that.
"""
import hashlib
import logging
from dataclasses import dataclass

from django.db import DatabaseError, connection, transaction

from core.redis_client import redis_client
from keys.cache import cache_is_shared
from usage.counters import bulk, evalsha
from usage.models import ManagementCounter

log = logging.getLogger(__name__)
UNLIMITED = 2**62  # window_count's limit: a count, never a refusal

# Lease a block of the window's quota: at most the room left, and no more than `block` (the
# caller's block for that room, see block_size), worked out here from the count the script reads,
# so that two workers racing for the last of the quota never both get it. The expiry is relative,
# a window's length and a little from its first lease, so neither clock drift between Redis and
# the workers nor a clock set back can end a window early. Returns {granted, leased after}.
TAKE_SCRIPT = """
local leased = tonumber(redis.call('GET', KEYS[1]) or '0')
local room = tonumber(ARGV[1]) - leased
if room <= 0 then return {0, leased} end
local block = math.floor(room / tonumber(ARGV[3]))
if block < 1 then block = 1 end
if block > tonumber(ARGV[2]) then block = tonumber(ARGV[2]) end
leased = redis.call('INCRBY', KEYS[1], block)
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[4]) end
return {block, leased}
"""
TAKE_SHA = hashlib.sha1(TAKE_SCRIPT.encode()).hexdigest()
TAKE_HEAD = b"*8\r\n" + bulk(b"EVALSHA") + bulk(TAKE_SHA.encode()) + bulk(b"1")
# Give back what a lease did not use, never below nothing; a window's key that expired stays gone.
GIVE_BACK_SCRIPT = """
local leased = tonumber(redis.call('GET', KEYS[1]) or '0')
local back = math.min(tonumber(ARGV[1]), leased)
if back > 0 then redis.call('DECRBY', KEYS[1], back) end
return back
"""
GIVE_BACK_SHA = hashlib.sha1(GIVE_BACK_SCRIPT.encode()).hexdigest()
GIVE_BACK_HEAD = b"*4\r\n" + bulk(b"EVALSHA") + bulk(GIVE_BACK_SHA.encode()) + bulk(b"1")


@dataclass(frozen=True)
class Taken:
    granted: int  # requests this lease may admit (0: the window's quota is all leased)
    leased: int  # the window's quota leased to every worker in all, this block included
    window_start: int  # the window the block counts in (a later one than asked, see _roll)


def block_size(room: int, max_block: int, divisor: int) -> int:
    """The block to lease when `room` of the window's quota is left: a share of it small enough
    that the workers' unused blocks never hold much of the quota back (room // divisor, with
    divisor twice the workers expected), at most max_block and at least 1. Near the limit blocks
    shrink to 1, so a refusal comes only when the quota is all but used."""
    if room <= 0:
        return 0
    return max(1, min(max_block, room // divisor))


def _window_key(key_id, window_start: int) -> str:
    return f"keyhouse:management:{key_id}:{window_start}"


def _take_redis(key_id, window_start: int, window_seconds: int, limit: int, max_block: int, divisor: int) -> Taken:
    packed = TAKE_HEAD + b"".join(bulk(value) for value in (
        _window_key(key_id, window_start), limit, max_block, divisor, window_seconds + 5))
    granted, leased = evalsha(redis_client(), packed, TAKE_SCRIPT)
    return Taken(int(granted), int(leased), window_start)


def _give_back_redis(key_id, window_start: int, amount: int) -> None:
    evalsha(redis_client(), GIVE_BACK_HEAD + bulk(_window_key(key_id, window_start)) + bulk(amount),
            GIVE_BACK_SCRIPT)


def _roll(key_id, window_start: int):
    """Lock the key's row for this transaction and roll it into the asked window if its own is an
    earlier one (its count restarts): (leased, window_start) after that, or None when the key has
    no row yet. A request of an earlier window than the row's (a node whose clock is a little
    behind, or one that read the clock just before the minute turned) counts in the row's window:
    moving the row back would restart its count, and a key sent to two nodes in turn across a
    minute's turn would be counted from nothing each time."""
    table = connection.ops.quote_name(ManagementCounter._meta.db_table)
    key_field = ManagementCounter._meta.get_field("api_key").target_field
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET requests = CASE WHEN window_start >= %s THEN requests ELSE 0 END, "
            f"window_start = CASE WHEN window_start > %s THEN window_start ELSE %s END "
            f"WHERE api_key_id = %s RETURNING requests, window_start",
            [window_start, window_start, window_start, key_field.get_db_prep_value(key_id, connection)])
        return cursor.fetchone()


def _add(key_id, window_start: int, amount: int) -> None:
    table = connection.ops.quote_name(ManagementCounter._meta.db_table)
    key_field = ManagementCounter._meta.get_field("api_key").target_field
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET requests = CASE WHEN requests + %s > 0 THEN requests + %s ELSE 0 END "
            f"WHERE api_key_id = %s AND window_start = %s",
            [amount, amount, key_field.get_db_prep_value(key_id, connection), window_start])


def _take_database(key_id, window_start: int, limit: int, max_block: int, divisor: int) -> Taken:
    """The row's first statement is a write, so the row stays locked (PostgreSQL) or the database
    write-locked (SQLite) until the block is counted: no other lease reads the count between."""
    with transaction.atomic():
        rolled = _roll(key_id, window_start)
        if rolled is None:
            ManagementCounter.objects.bulk_create(
                [ManagementCounter(api_key_id=key_id, window_start=window_start)], ignore_conflicts=True)
            rolled = _roll(key_id, window_start)
        leased, row_window = rolled
        granted = block_size(limit - leased, max_block, divisor)
        if granted:
            _add(key_id, row_window, granted)
    return Taken(granted, leased + granted, row_window)


def take(*, key_id, window_start: int, window_seconds: int, limit: int, max_block: int, divisor: int) -> Taken:
    """Lease a block of the key's quota in the window starting at `window_start` (Unix seconds):
    block_size(limit - leased, max_block, divisor) of it, nothing once it is all leased. Raises
    redis.RedisError or DatabaseError when the store does not answer."""
    if cache_is_shared():
        return _take_redis(key_id, window_start, window_seconds, limit, max_block, divisor)
    return _take_database(key_id, window_start, limit, max_block, divisor)


def give_back(*, key_id, window_start: int, amount: int) -> None:
    """Return `amount` of a lease of that window unused; best effort (a store that does not
    answer keeps it leased: that only holds back quota, it never lets more through)."""
    import redis

    if amount <= 0:
        return
    try:
        if cache_is_shared():
            _give_back_redis(key_id, window_start, amount)
        else:
            _add(key_id, window_start, -amount)
    except (redis.RedisError, DatabaseError):
        log.warning("A management lease was not given back: the counter store did not answer", exc_info=True)


def window_count(*, key_id, window_start: int, window_seconds: int) -> int | None:
    """Count one request in the key's window starting at `window_start` (Unix seconds), a lease of
    one with no limit: how many it has made in it, this one included; None when the store did not
    answer (not counted)."""
    import redis

    try:
        return take(key_id=key_id, window_start=window_start, window_seconds=window_seconds,
                    limit=UNLIMITED, max_block=1, divisor=1).leased
    except (redis.RedisError, DatabaseError):
        log.warning("Management requests not counted: the counter store did not answer", exc_info=True)
        return None

