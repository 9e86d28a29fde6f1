"""Atomic check-and-count of a limited key's use in its current period.

One operation decides and counts together, so N simultaneous requests against R remaining admit
exactly R: a Lua script in Redis when the cache is Redis (shared by every worker), otherwise a
conditional UPDATE in the database. Local-memory caches are per process and could not count
across gunicorn workers, so they are never used for this.

The store keeps, per key and period, what was used (requests, spend) apart from what is reserved:
blocks of the quota leased to workers (usage.quota_leases) that they admit from without a round
trip and settle at their next log flush. The ceiling counts both, so the limit stays exact; what
was used is what the limits page shows. A key far from its limit is leased a block; near it each
request is counted on its own, as when nothing leases.
"""
import hashlib
import threading
from dataclasses import dataclass
from datetime import datetime

from django.db import DatabaseError, connection, transaction

from core.errors import ServiceUnavailable
from core.redis_client import redis_client
from keys.cache import cache_is_shared
from usage.models import LimitCounter

# One request, or a block of them, against the ceiling: used (r, s) plus reserved (lr, ls). First
# the caller's settlement: what its worker used of its blocks moves from reserved to used, and what
# it gives back leaves the reserved count. Then, for ARGV[9] (the smallest block) > 0, a block is
# reserved when the worker's share of the room left (the room over ARGV[10], the divisor) holds at
# least that many requests: the share, at most ARGV[11] requests, and as many times the cost.
# Otherwise, unless ARGV[9] < 0 (a settlement alone), one request is admitted or refused on its own.
# The hash's epoch (`e`, its creation time) tells one life of the counter from the next: a Redis
# that restarted without its data counts from nothing, and a settlement of blocks reserved in an
# earlier life (ARGV[12] another epoch) adds what was used but releases nothing, as none of its
# reservations are in this count. Returns {mode (0 refused, 1 admitted, 2 block leased, 3
# settled), used + reserved requests, used + reserved spend, refused_by (1 requests, 2 budget),
# the block's size, the epoch}.
CONSUME_SCRIPT = """
local v = redis.call('HMGET', KEYS[1], 'r', 's', 'lr', 'ls', 'e')
local r, s = tonumber(v[1] or '0'), tonumber(v[2] or '0')
local lr, ls = tonumber(v[3] or '0'), tonumber(v[4] or '0')
local epoch = v[5]
if not epoch then
  local now = redis.call('TIME')
  epoch = now[1] .. '.' .. now[2]
  redis.call('HSET', KEYS[1], 'e', epoch)
end
local cost, least = tonumber(ARGV[1]), tonumber(ARGV[9])
local dr, ds = tonumber(ARGV[5]), tonumber(ARGV[6])
local dlr, dls = 0, 0
if ARGV[12] == epoch then dlr, dls = -math.min(lr, tonumber(ARGV[7])), -math.min(ls, tonumber(ARGV[8])) end
local mode, refused, block = 3, 0, 0
r, s, lr, ls = r + dr, s + ds, lr + dlr, ls + dls
if least > 0 then
  block = tonumber(ARGV[11])
  if ARGV[2] ~= '' then block = math.min(block, math.floor((tonumber(ARGV[2]) - r - lr) / tonumber(ARGV[10]))) end
  if ARGV[3] ~= '' and cost > 0 then
    block = math.min(block, math.floor((tonumber(ARGV[3]) - s - ls) / cost / tonumber(ARGV[10])))
  end
  if block >= least then
    mode, dlr, dls, lr, ls = 2, dlr + block, dls + block * cost, lr + block, ls + block * cost
  else
    block = 0
  end
end
if mode == 3 and least >= 0 then
  if ARGV[2] ~= '' and r + lr + 1 > tonumber(ARGV[2]) then mode, refused = 0, 1
  elseif ARGV[3] ~= '' and s + ls + cost > tonumber(ARGV[3]) then mode, refused = 0, 2
  else mode, dr, ds, r, s = 1, dr + 1, ds + cost, r + 1, s + cost end
end
if dr ~= 0 then redis.call('HINCRBY', KEYS[1], 'r', dr) end
if ds ~= 0 then redis.call('HINCRBY', KEYS[1], 's', ds) end
if dlr ~= 0 then redis.call('HINCRBY', KEYS[1], 'lr', dlr) end
if dls ~= 0 then redis.call('HINCRBY', KEYS[1], 'ls', dls) end
redis.call('EXPIREAT', KEYS[1], ARGV[4])
return {mode, r + lr, s + ls, refused, block, epoch}
"""


@dataclass(frozen=True)
class Consumption:
    admitted: bool
    requests: int  # used, with every worker's reserved blocks counted as used
    spend_microcents: int
    refused_by: str = ""  # "requests" or "budget"


REFUSED, ADMITTED, LEASED, SETTLED = 0, 1, 2, 3
REFUSED_BY = {1: "requests", 2: "budget"}


@dataclass(frozen=True)
class Settlement:
    """What a worker used of the blocks it reserved since it last settled, and all it reserved:
    the use moves from reserved to used, the rest is given back."""

    used_requests: int = 0
    used_spend: int = 0
    reserved_requests: int = 0
    reserved_spend: int = 0
    epoch: str = ""  # the counter's life the blocks were reserved in (Taken.epoch)

    def __bool__(self) -> bool:
        return any((self.used_requests, self.used_spend, self.reserved_requests, self.reserved_spend))


NOTHING = Settlement()


@dataclass(frozen=True)
class Taken:
    mode: int  # REFUSED, ADMITTED, LEASED or SETTLED
    requests: int  # used + reserved after it, every worker's blocks included
    spend_microcents: int
    refused_by: str = ""
    block: int = 0  # requests leased, at the cost asked each
    epoch: str = ""  # the counter's life: another one means earlier reservations are not in it


@dataclass(frozen=True)
class Ask:
    """What a take asks for: a block when the worker's share of the room left (the room over
    `divisor`) holds at least `least` requests, that share and at most `most`; else, with least
    0, one request on its own; with least -1, nothing but the settlement."""

    least: int
    most: int = 0
    divisor: int = 1


ONE, SETTLE_ONLY = Ask(0), Ask(-1)


def _redis_key(key_id, period_start: datetime) -> str:
    return f"keyhouse:quota:{key_id}:{int(period_start.timestamp())}"


def bulk(value) -> bytes:
    data = value if isinstance(value, bytes) else str(value).encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


# The counter's one command, packed by hand up to its key and arguments: redis-py's Script call
# (argument encoding, the pool, retries, response callbacks) cost about 160 µs of a worker's
# CPU per request, several times the round trip itself. 16 parts: the command, the script's
# digest, the key count, the key and twelve arguments.
CONSUME_SHA = hashlib.sha1(CONSUME_SCRIPT.encode()).hexdigest()
EVALSHA_HEAD = b"*16\r\n" + bulk(b"EVALSHA") + bulk(CONSUME_SHA.encode()) + bulk(b"1")
_own = threading.local()  # each thread's own connection for the counter: no pool, no lock


def _connection(client):
    pool = client.connection_pool
    if getattr(_own, "pool", None) is not pool:
        _own.pool, _own.connection = pool, pool.connection_class(**pool.connection_kwargs)
    return _own.connection


def evalsha(client, packed: bytes, script: str = CONSUME_SCRIPT):
    """Send and read on this thread's connection; after a Redis restart, load the script once
    and send again. A broken connection is closed on the error and reopened on the next send."""
    import redis

    connection = _connection(client)

    def send():
        connection.send_packed_command([packed], check_health=False)
        return connection.read_response()

    try:
        return send()
    except redis.exceptions.NoScriptError:
        client.script_load(script)
    return send()


def _unreachable() -> ServiceUnavailable:
    return ServiceUnavailable("The usage counter store is unreachable; retry shortly.",
                              code="counter_store_unavailable")


def _take_redis(key_id, period_start, period_end, cost, request_limit, budget, ask: Ask,
                settlement: Settlement) -> Taken:
    import redis

    packed = EVALSHA_HEAD + b"".join(bulk(value) for value in (
        _redis_key(key_id, period_start), cost, "" if request_limit is None else request_limit,
        "" if budget is None else budget, int(period_end.timestamp()) + 3600, settlement.used_requests,
        settlement.used_spend, settlement.reserved_requests, settlement.reserved_spend, ask.least, ask.divisor,
        ask.most, settlement.epoch))
    try:
        mode, requests, spend, refused, block, epoch = evalsha(redis_client(), packed)
    except redis.RedisError as exc:
        raise _unreachable() from exc
    return Taken(mode, requests, spend, REFUSED_BY.get(refused, ""), block, epoch.decode())


def _update_row(key_id, period_start, assignments: str, params: list, *, where: str = "",
                where_params: tuple = (), returning: str = ""):
    """One UPDATE of the key's counter row of the period, with more conditions if `where` names
    them: the row `returning` names, or None when no row matched (or nothing is returned)."""
    table = connection.ops.quote_name(LimitCounter._meta.db_table)
    key_field = LimitCounter._meta.get_field("api_key").target_field
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {assignments} WHERE api_key_id = %s AND period_start = %s{where}"
            + (f" RETURNING {returning}" if returning else ""),
            [*params, key_field.get_db_prep_value(key_id, connection),
             connection.ops.adapt_datetimefield_value(period_start), *where_params])
        return cursor.fetchone() if returning else None


def _count(key_id, period_start, cost, request_limit, budget):
    """Decide and count in one conditional UPDATE ... RETURNING (SQLite 3.35+, PostgreSQL):
    (requests, spend) used and reserved after counting, or None when there is no counter row or
    no room."""
    where, where_params = "", []
    if request_limit is not None:
        where += " AND requests + reserved_requests < %s"
        where_params.append(request_limit)
    if budget is not None:
        where += " AND spend_microcents + reserved_microcents <= %s"
        where_params.append(budget - cost)
    return _update_row(key_id, period_start, "requests = requests + 1, spend_microcents = spend_microcents + %s",
                       [cost], where=where, where_params=tuple(where_params),
                       returning="requests + reserved_requests, spend_microcents + reserved_microcents")


def _settle_row(key_id, period_start, settlement: Settlement):
    """Apply a settlement to the key's counter row of the period, as the transaction's first
    statement (a write: the row stays locked on PostgreSQL until the transaction ends; SQLite's
    transactions here take the write lock at BEGIN): (requests, spend, reserved requests,
    reserved spend, the row's id) after it, or None when there is no row. The row's id is its
    epoch: blocks reserved in a row deleted since are not in a new one, so nothing is released."""
    epoch = int(settlement.epoch) if settlement.epoch.isdigit() else 0
    requests, spend = settlement.reserved_requests, settlement.reserved_spend
    return _update_row(
        key_id, period_start,
        "requests = requests + %s, spend_microcents = spend_microcents + %s, "
        "reserved_requests = CASE WHEN id <> %s THEN reserved_requests "
        "WHEN reserved_requests > %s THEN reserved_requests - %s ELSE 0 END, "
        "reserved_microcents = CASE WHEN id <> %s THEN reserved_microcents "
        "WHEN reserved_microcents > %s THEN reserved_microcents - %s ELSE 0 END",
        [settlement.used_requests, settlement.used_spend, epoch, requests, requests, epoch, spend, spend],
        returning="requests, spend_microcents, reserved_requests, reserved_microcents, id")


def _add_to_row(key_id, period_start, requests: int, spend: int, reserved: int, reserved_spend: int) -> None:
    _update_row(key_id, period_start,
                "requests = requests + %s, spend_microcents = spend_microcents + %s, "
                "reserved_requests = reserved_requests + %s, reserved_microcents = reserved_microcents + %s",
                [requests, spend, reserved, reserved_spend])


def _block(ask: Ask, cost: int, request_limit, budget, requests: int, spend: int) -> int:
    """The block a take leases with `requests` and `spend` used and reserved: 0 when the share of
    the room left is under the least block (the Redis script's rule)."""
    block = ask.most
    if request_limit is not None:
        block = min(block, (request_limit - requests) // ask.divisor)
    if budget is not None and cost > 0:
        block = min(block, (budget - spend) // cost // ask.divisor)
    return block if block >= ask.least else 0


def _consume_database(key_id, period_start, cost, request_limit, budget) -> Consumption:
    """One statement for an admitted request, outside any transaction of its own (a conditional
    UPDATE decides and counts atomically by itself; BEGIN and COMMIT around it cost more than it
    does); a period's first request and a refusal go the way of a block (_take_database)."""
    try:
        counted = _count(key_id, period_start, cost, request_limit, budget)
    except DatabaseError as exc:
        raise _unreachable() from exc
    if counted is not None:
        return Consumption(True, *counted)
    taken = _take_database(key_id, period_start, cost, request_limit, budget, ONE, NOTHING)
    return Consumption(taken.mode == ADMITTED, taken.requests, taken.spend_microcents, taken.refused_by)


def _take_database(key_id, period_start, cost, request_limit, budget, ask: Ask, settlement: Settlement) -> Taken:
    """What the Redis script does, in one transaction on the key's row."""
    try:
        with transaction.atomic():
            row = _settle_row(key_id, period_start, settlement)
            if row is None:
                if ask.least < 0:  # a settlement for a key deleted since, its counters with it
                    return Taken(SETTLED, 0, 0)
                LimitCounter.objects.bulk_create([LimitCounter(api_key_id=key_id, period_start=period_start)],
                                                 ignore_conflicts=True)
                row = _settle_row(key_id, period_start, settlement)
            requests, spend, epoch = row[0] + row[2], row[1] + row[3], str(row[4])
            block = _block(ask, cost, request_limit, budget, requests, spend) if ask.least > 0 else 0
            if block:
                _add_to_row(key_id, period_start, 0, 0, block, block * cost)
                return Taken(LEASED, requests + block, spend + block * cost, "", block, epoch)
            if ask.least < 0:
                return Taken(SETTLED, requests, spend, epoch=epoch)
            if request_limit is not None and requests + 1 > request_limit:
                return Taken(REFUSED, requests, spend, "requests", epoch=epoch)
            if budget is not None and spend + cost > budget:
                return Taken(REFUSED, requests, spend, "budget", epoch=epoch)
            _add_to_row(key_id, period_start, 1, cost, 0, 0)
            return Taken(ADMITTED, requests + 1, spend + cost, epoch=epoch)
    except DatabaseError as exc:
        raise _unreachable() from exc


def consume(*, key_id, period_start, period_end, cost, request_limit, budget) -> Consumption:
    """Admit or refuse one request on its own, counted at once."""
    if cache_is_shared():
        taken = _take_redis(key_id, period_start, period_end, cost, request_limit, budget, ONE, NOTHING)
        return Consumption(taken.mode == ADMITTED, taken.requests, taken.spend_microcents, taken.refused_by)
    return _consume_database(key_id, period_start, cost, request_limit, budget)


def take(*, key_id, period_start, period_end, cost, request_limit, budget, ask: Ask,
         settlement: Settlement = NOTHING) -> Taken:
    """Settle what a worker used of its blocks and gave back, then lease a block at `cost` a
    request, or admit or refuse one request on its own, as `ask` says. Raises ServiceUnavailable
    when the store does not answer (nothing settled then)."""
    if cache_is_shared():
        return _take_redis(key_id, period_start, period_end, cost, request_limit, budget, ask, settlement)
    return _take_database(key_id, period_start, cost, request_limit, budget, ask, settlement)


def current_use(*, key_id, period_start) -> tuple[int, int]:
    """(requests, spend) counted so far in the period, for showing limits to people."""
    if cache_is_shared():
        requests, spend = redis_client().hmget(_redis_key(key_id, period_start), "r", "s")
        return int(requests or 0), int(spend or 0)
    row = LimitCounter.objects.filter(api_key_id=key_id, period_start=period_start).values_list(
        "requests", "spend_microcents").first()
    return row or (0, 0)
