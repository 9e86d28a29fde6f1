"""Product limits counted in blocks (usage.quota_leases over usage.counters), on the real stores:
the database the suite runs on and a Redis of the test's own. A key far from its limit costs a
round trip per block; the limit stays an exact ceiling whatever the workers and threads; what a
worker used is counted as used once it settles, and nothing it admitted is lost on the way."""
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from usage import counters
from usage.quota_leases import QuotaBook

pytestmark = pytest.mark.django_db(transaction=True)
COST = 100


@pytest.fixture(params=["database", "redis"])
def store(request, settings):
    """Blocks of 10 to 100, two workers expected: a key is far while its worker's share of the
    room left, a quarter, holds 10 requests."""
    settings.USAGE_LEASE_BLOCK, settings.MANAGEMENT_LEASE_WORKERS = 10, 2
    if request.param == "redis":
        request.getfixturevalue("own_redis")
    else:  # the database counts whenever the cache is not shared, whatever cache the run has
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    return request.param


@pytest.fixture
def key_id(alice):
    from tests.factories import make_key

    return make_key(alice)[0].pk


@pytest.fixture
def trips(monkeypatch):
    """The counter store's round trips, by what they did: "block" leased, "one" request counted
    (or refused) on its own, "settle" alone."""
    made = []
    take, consume = counters.take, counters.consume

    def taking(**kw):
        taken = take(**kw)
        made.append({counters.LEASED: "block", counters.SETTLED: "settle"}.get(taken.mode, "one"))
        return taken

    monkeypatch.setattr(counters, "take", taking)
    monkeypatch.setattr(counters, "consume", lambda **kw: made.append("one") or consume(**kw))
    return made


TODAY = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
PERIOD = (TODAY, TODAY + timedelta(days=1))


def use(book, key_id, *, request_limit=None, budget=None, cost=COST, period=PERIOD):
    return book.consume(key_id=key_id, period_start=period[0], period_end=period[1], cost=cost,
                        request_limit=request_limit, budget=budget)


def used(key_id, period=PERIOD) -> tuple[int, int]:
    return counters.current_use(key_id=key_id, period_start=period[0])


def reserved(key_id, period=PERIOD) -> int:
    """Requests reserved in the store for workers' blocks."""
    from core.redis_client import redis_client
    from keys.cache import cache_is_shared
    from usage.models import LimitCounter

    if cache_is_shared():
        return int(redis_client().hget(counters._redis_key(key_id, period[0]), "lr") or 0)
    return LimitCounter.objects.filter(api_key_id=key_id, period_start=period[0]).values_list(
        "reserved_requests", flat=True).first() or 0


def test_a_far_key_costs_one_round_trip_per_block_and_is_all_counted_once_settled(store, key_id, trips):
    """Blocks are the worker's share of the room left (a quarter here), at most 100."""
    book = QuotaBook()
    answers = [use(book, key_id, request_limit=1000) for _ in range(250)]
    assert all(a.admitted for a in answers)
    assert trips == ["block"] * 3
    assert [a.requests for a in answers[:3]] == [1, 2, 3]  # 1000 - this is the RateLimit remaining
    assert used(key_id) == (200, 200 * COST)  # two blocks settled with the next ones; the third not yet
    book.settle_all()
    assert used(key_id) == (250, 250 * COST) and reserved(key_id) == 50
    assert use(book, key_id, request_limit=1000).admitted  # from the rest of its block, kept
    assert trips == ["block"] * 3 + ["settle"]


def test_a_block_goes_back_after_a_flush_without_use_or_when_its_worker_stops(store, key_id):
    idle, stopping = QuotaBook(), QuotaBook()
    use(idle, key_id, request_limit=1000)
    use(stopping, key_id, request_limit=1000)
    assert reserved(key_id) == 200
    idle.settle_all(), stopping.settle_all()
    assert reserved(key_id) == 198 and used(key_id) == (2, 2 * COST)
    use(stopping, key_id, request_limit=1000)
    idle.settle_all()  # unused since the last flush: its block goes back
    stopping.settle_all(final=True)  # gunicorn's worker_exit, through the recorder's last flush
    assert reserved(key_id) == 0 and used(key_id) == (3, 3 * COST)


def test_near_its_limit_a_key_is_counted_request_by_request_up_to_exactly_the_limit(store, key_id, trips):
    book = QuotaBook()
    answers = [use(book, key_id, request_limit=100) for _ in range(105)]
    assert [a.admitted for a in answers] == [True] * 100 + [False] * 5
    # Blocks of a quarter of the room while that holds 10: 25, 18, 14, 10; then one by one.
    assert trips == ["block"] * 4 + ["one"] * (100 - 67 + 5)
    refused = answers[-1]
    assert (refused.refused_by, refused.requests) == ("requests", 100)
    book.settle_all()
    assert used(key_id) == (100, 100 * COST)


def test_a_limit_that_is_never_far_is_never_leased(store, key_id, trips):
    book = QuotaBook()
    assert [use(book, key_id, request_limit=30).admitted for _ in range(31)] == [True] * 30 + [False]
    assert set(trips) == {"one"}
    assert used(key_id) == (30, 30 * COST)  # counted as it happened, with no settlement


def test_a_budget_is_leased_in_blocks_of_its_price_and_never_overspent(store, key_id, trips):
    book = QuotaBook()
    answers = [use(book, key_id, budget=100 * COST, cost=COST) for _ in range(101)]
    answers += [use(book, key_id, budget=100 * COST, cost=10 * COST)]
    assert [a.admitted for a in answers] == [True] * 100 + [False] * 2
    assert answers[-1].refused_by == "budget" and answers[-1].spend_microcents == 100 * COST
    assert "block" in trips
    book.settle_all()
    assert used(key_id) == (100, 100 * COST)


@pytest.mark.parametrize("workers,threads", [(3, 4), (1, 8)])
def test_the_ceiling_holds_with_workers_and_threads_racing(store, key_id, workers, threads):
    """Every thread of every worker makes requests until refused. Blocks other workers still
    hold may refuse a request early, but never admit one too many; once every worker has
    settled, the rest of the quota is admitted to the last request, and what is shown as used
    is exactly what was admitted."""
    books, limit, admitted = [QuotaBook() for _ in range(workers)], 300, []

    def run(book):
        while use(book, key_id, request_limit=limit).admitted:
            admitted.append(1)

    if store == "database" and connection.vendor == "sqlite":
        # The suite's SQLite is one in-memory database shared by the threads of one process,
        # which lock its tables rather than wait: the workers take turns instead.
        refused: set = set()
        while len(refused) < workers:
            for book in books:
                if book not in refused and not use(book, key_id, request_limit=limit).admitted:
                    refused.add(book)
                elif book not in refused:
                    admitted.append(1)
    else:
        racers = [threading.Thread(target=run, args=(book,)) for book in books for _ in range(threads)]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()
    assert len(admitted) <= limit
    for book in books:
        book.settle_all()
    assert used(key_id) == (len(admitted), len(admitted) * COST)
    while use(books[0], key_id, request_limit=limit).admitted:
        admitted.append(1)
    assert len(admitted) == limit
    assert used(key_id) == (limit, limit * COST)


def test_a_lowered_limit_is_never_exceeded_from_a_block_leased_under_the_old_one(store, key_id):
    first, second = QuotaBook(), QuotaBook()
    assert use(first, key_id, request_limit=1000).admitted  # first holds a block of 10, 1 used
    assert use(second, key_id, request_limit=1000).admitted  # second another
    answers = [use(book, key_id, request_limit=3).admitted for book in (first, second, first, second)]
    # 2 used and the limit 3: one more in all. The first is refused, as the second still holds
    # 9 of its block, reserved: that refusal is early, never one too many admitted.
    assert answers == [False, True, False, False]
    first.settle_all(), second.settle_all()
    assert used(key_id) == (3, 3 * COST)
    assert not use(first, key_id, request_limit=3).admitted


def test_a_new_period_settles_what_the_old_one_used_in_the_old_one(store, key_id):
    book, later = QuotaBook(), (PERIOD[1], PERIOD[1] + timedelta(days=1))
    for _ in range(5):
        use(book, key_id, request_limit=1000)
    assert use(book, key_id, request_limit=1000, period=later).requests == 1  # from a block of its own
    assert used(key_id) == (5, 5 * COST) and reserved(key_id) == 0
    assert used(key_id, later) == (0, 0)  # reserved, not yet used
    book.settle_all()
    assert used(key_id, later) == (1, COST)


def test_uses_settled_while_redis_is_down_are_counted_once_it_is_back(settings, key_id, own_redis, caplog):
    settings.USAGE_LEASE_BLOCK, settings.MANAGEMENT_LEASE_WORKERS = 10, 2
    book = QuotaBook()
    for _ in range(4):
        use(book, key_id, request_limit=1000)
    own_redis.stop()
    book.settle_all()  # the flush's settlement fails: kept, not lost
    assert "not settled" in caplog.text
    own_redis.start()  # empty, as a Redis without persistence comes back: the uses come back with it
    book.settle_all()
    assert used(key_id) == (4, 4 * COST)


def test_a_key_deleted_while_its_worker_holds_a_block_is_settled_without_a_trace(settings, alice):
    from tests.factories import make_key
    from usage.models import LimitCounter

    settings.USAGE_LEASE_BLOCK, settings.MANAGEMENT_LEASE_WORKERS = 10, 2
    key, book = make_key(alice)[0], QuotaBook()
    assert use(book, key.pk, request_limit=1000).admitted
    key.delete()
    book.settle_all()
    assert not LimitCounter.objects.filter(api_key_id=key.pk).exists()


def test_after_a_flush_a_workers_remaining_counts_every_other_workers_reservations(store, key_id):
    """The RateLimit `remaining` of a block is a snapshot of the store, refreshed at the
    worker's every exchange with it (a block, or a flush's settlement): as of then, every
    worker's reservations count as used, so it never claims what another worker holds."""
    limit, first, second = 10_000, QuotaBook(), QuotaBook()
    admitted = use(first, key_id, request_limit=limit).admitted
    admitted += sum(use(second, key_id, request_limit=limit).admitted for _ in range(50))
    first.settle_all()
    answer = use(first, key_id, request_limit=limit)
    admitted += answer.admitted
    assert limit - answer.requests <= limit - admitted
    assert answer.requests == 2 * 100 - 98  # both blocks of 100 reserved as of the flush, less the first's rest


def test_blocks_of_a_redis_that_lost_its_counts_are_neither_given_back_nor_spent(settings, own_redis, key_id):
    """A Redis restarted without its data counts the period from nothing. A worker's block from
    before is not in that count: settling it adds what was used but must not release anything
    (that would erase blocks other workers reserved since), and the worker stops spending it."""
    from core.redis_client import redis_client

    settings.USAGE_LEASE_BLOCK, settings.MANAGEMENT_LEASE_WORKERS = 10, 2
    limit, before, after, late = 1000, QuotaBook(), QuotaBook(), QuotaBook()
    for _ in range(10):
        assert use(before, key_id, request_limit=limit).admitted
    redis_client().delete(counters._redis_key(key_id, PERIOD[0]))  # the restart
    admitted = int(use(after, key_id, request_limit=limit).admitted)  # a block of 100 in the new count
    before.settle_all()  # its 10 count as used; its 90 unused are in no count
    assert (used(key_id), reserved(key_id)) == ((10, 10 * COST), 100)
    admitted += int(use(before, key_id, request_limit=limit).admitted)  # a new block, not the old one
    before.settle_all(final=True)  # gives back that new block's rest, nothing more
    assert reserved(key_id) == 100
    while use(late, key_id, request_limit=limit).admitted:
        admitted += 1
    while use(after, key_id, request_limit=limit).admitted:
        admitted += 1
    for book in (after, late):
        book.settle_all(final=True)
    assert admitted == limit - 10 and used(key_id) == (limit, limit * COST)


def test_two_keys_on_one_counter_with_limits_of_their_own_share_a_block(store, key_id, trips):
    """A key counting on another's counter (a regenerated key, say) may carry a limit of its own:
    requests of both, far from both limits, come from one block, not a block given back and
    taken again at each switch; lowered under what is reserved, the block goes back."""
    book = QuotaBook()
    answers = [use(book, key_id, request_limit=(1000, 2000)[n % 2]) for n in range(40)]
    assert all(a.admitted for a in answers) and trips == ["block"]
    assert [use(book, key_id, request_limit=limit).admitted for limit in (50, 60)] == [True, True]
    assert trips == ["block", "one", "one"]  # 50 is under what was reserved (100): counted one by one
    book.settle_all()
    assert used(key_id) == (42, 42 * COST) and reserved(key_id) == 0
