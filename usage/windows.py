"""A key's requests to Keyhouse's own routes in the current minute, counted across every worker
and node: the management abuse limit (usage.limits) is exact, and the RateLimit fields of one
key's responses agree whichever worker answers.

One atomic operation per request, as the product counters (usage.counters): a Lua script in
Redis when the cache is Redis, otherwise a single UPDATE ... RETURNING on the key's one row in
the database. Unlike those counters this one fails open: a store that does not answer must not
stop an owner from revoking a leaked key or lifting a limit, and an abuse limit that counts
nothing for a while costs less than that.
"""
import hashlib
import logging

from django.db import DatabaseError, connection, transaction

from core.redis_client import redis_client
from keys.cache import cache_is_shared
from usage.counters import bulk, evalsha
from usage.models import ManagementCounter

log = logging.getLogger(__name__)

# INCR and, for the window's first request, its expiry: the count after this request. The
# expiry is relative, a window's length and a little from its first request, so neither clock
# drift between Redis and the workers nor a clock set back can end a window early.
COUNT_SCRIPT = """
local used = redis.call('INCR', KEYS[1])
if used == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return used
"""
COUNT_SHA = hashlib.sha1(COUNT_SCRIPT.encode()).hexdigest()
EVALSHA_HEAD = b"*5\r\n" + bulk(b"EVALSHA") + bulk(COUNT_SHA.encode()) + bulk(b"1")


def _count_redis(key_id, window_start: int, window_seconds: int) -> int:
    packed = EVALSHA_HEAD + bulk(f"keyhouse:management:{key_id}:{window_start}") + bulk(window_seconds + 5)
    return evalsha(redis_client(), packed, COUNT_SCRIPT)


def _update(key_id, window_start: int):
    """Count in the key's row, restarting it when its window is an earlier one: the count after
    this request, or None when the key has no row yet. A request of an earlier window than the
    row's (a node whose clock is a little behind, or one that read the clock just before the
    minute turned) counts in the row's window: moving the row back would restart its count, and
    a key sent to two nodes in turn across a minute's turn would be counted from 1 each time."""
    table = connection.ops.quote_name(ManagementCounter._meta.db_table)
    key_field = ManagementCounter._meta.get_field("api_key").target_field
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET requests = CASE WHEN window_start >= %s THEN requests + 1 ELSE 1 END, "
            f"window_start = CASE WHEN window_start > %s THEN window_start ELSE %s END "
            f"WHERE api_key_id = %s RETURNING requests",
            [window_start, window_start, window_start, key_field.get_db_prep_value(key_id, connection)])
        row = cursor.fetchone()
    return row and row[0]


def _count_database(key_id, window_start: int) -> int:
    with transaction.atomic():
        used = _update(key_id, window_start)
        if used is None:
            ManagementCounter.objects.bulk_create(
                [ManagementCounter(api_key_id=key_id, window_start=window_start)], ignore_conflicts=True)
            used = _update(key_id, window_start)
    return used


def window_count(*, key_id, window_start: int, window_seconds: int) -> int | None:
    """Count one request in the key's window starting at `window_start` (Unix seconds): how many
    it has made in it, this one included; None when the store did not answer (not counted)."""
    import redis

    try:
        if cache_is_shared():
            return _count_redis(key_id, window_start, window_seconds)
        return _count_database(key_id, window_start)
    except (redis.RedisError, DatabaseError):
        log.warning("Management requests not counted: the counter store did not answer", exc_info=True)
        return None
