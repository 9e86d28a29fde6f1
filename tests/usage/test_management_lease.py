"""The management abuse limit by per-worker leases (usage.leases over usage.windows): the limit
is an exact ceiling however many workers and threads race for it, a lease never outlives its
window, blocks shrink as the minute's quota runs low, and what a worker did not use goes back."""
import threading
import uuid

import pytest

from usage import windows
from usage.leases import LeaseBook

pytestmark = pytest.mark.django_db


class MemoryStore:
    """usage.windows' contract in one process: one atomic count per (key, window)."""

    def __init__(self):
        self.leased: dict = {}
        self.takes: list = []
        self.lock = threading.Lock()

    def take(self, *, key_id, window_start, window_seconds, limit, max_block, divisor):
        with self.lock:
            leased = self.leased.get((key_id, window_start), 0)
            granted = windows.block_size(limit - leased, max_block, divisor)
            self.leased[(key_id, window_start)] = leased + granted
            self.takes.append((window_start, granted))
            return windows.Taken(granted, leased + granted, window_start)

    def give_back(self, *, key_id, window_start, amount):
        with self.lock:
            leased = self.leased.get((key_id, window_start), 0)
            self.leased[(key_id, window_start)] = leased - min(amount, leased)


@pytest.fixture
def lease_settings(settings):
    settings.MANAGEMENT_LEASE_MAX_BLOCK, settings.MANAGEMENT_LEASE_WORKERS = 50, 2
    return settings


def race(books, key_id, limit, threads_per_book, window_start=600):
    """Every book (a worker) runs threads that each make requests until one is refused: the
    remaining of every admission."""
    admitted, lock = [], threading.Lock()

    def run(book):
        for _ in range(10 * limit):
            admission = book.admit(key_id=key_id, window_start=window_start, window_seconds=60, limit=limit)
            assert admission is not None
            if not admission.admitted:
                return
            with lock:
                admitted.append(admission.remaining)

    workers = [threading.Thread(target=run, args=(book,)) for book in books for _ in range(threads_per_book)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return admitted


def test_block_sizes_shrink_as_the_quota_runs_low():
    assert [windows.block_size(room, 50, 4) for room in (1000, 200, 100, 20, 7, 4, 3, 1, 0, -3)] == [
        50, 50, 25, 5, 1, 1, 1, 1, 0, 0]


def test_the_stores_blocks_shrink_near_the_limit_and_never_pass_it(alice, lease_settings):
    """Against the real store (the database, or Redis in CI's Redis pass)."""
    from tests.factories import make_key

    key, _ = make_key(alice)
    window = 60 * (uuid.uuid4().int % 10**6)
    taken = [windows.take(key_id=key.pk, window_start=window, window_seconds=60, limit=40, max_block=50, divisor=4)
             for _ in range(16)]
    # A quarter of the room left each time (divisor 4), down to 1; then nothing.
    assert [t.granted for t in taken] == [10, 7, 5, 4, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 0, 0]
    assert [t.leased for t in taken][-3:] == [40, 40, 40]


@pytest.mark.parametrize("books,threads", [(1, 8), (4, 1), (3, 4)])
def test_the_ceiling_holds_with_workers_and_threads_racing(books, threads, lease_settings):
    store, limit = MemoryStore(), 250
    key_id = uuid.uuid4()
    admitted = race([LeaseBook(store) for _ in range(books)], key_id, limit, threads)
    # Never more than the limit; and since a worker is refused only once its own block is spent
    # and the store has nothing left to lease, workers that keep asking use all of it.
    assert len(admitted) == limit
    # Each admission reports a different remaining, never more than the limit less itself.
    assert len(set(admitted)) == len(admitted) and max(admitted) <= limit - 1


def test_the_ceiling_holds_with_threads_racing_on_redis(lease_settings, own_redis):
    """The same race on a real Redis (one Lua script per lease), whatever the suite's cache."""
    admitted = race([LeaseBook() for _ in range(3)], uuid.uuid4(), 200, 3, window_start=60 * (uuid.uuid4().int % 10**6))
    assert len(admitted) == 200 and len(set(admitted)) == 200


def test_the_ceiling_holds_on_the_real_store_across_workers(alice, lease_settings):
    """Workers (books) racing one after another in turns on the store the settings name."""
    from tests.factories import make_key

    key, _ = make_key(alice)
    books, limit, window = [LeaseBook() for _ in range(3)], 30, 60 * (uuid.uuid4().int % 10**6)
    results = [books[n % 3].admit(key_id=key.pk, window_start=window, window_seconds=60, limit=limit)
               for n in range(60)]
    admitted = [r for r in results if r.admitted]
    assert len(admitted) == limit  # every worker kept asking until refused: none holds a block
    remaining = [r.remaining for r in admitted]
    assert len(set(remaining)) == len(remaining) and max(remaining) < limit


def test_an_earlier_windows_lease_is_never_spent_in_a_later_one(lease_settings):
    store, key_id = MemoryStore(), uuid.uuid4()
    book = LeaseBook(store)
    first = book.admit(key_id=key_id, window_start=60, window_seconds=60, limit=100)
    assert first.admitted and store.takes == [(60, 25)]  # 100 // (2 * 2 workers)
    later = book.admit(key_id=key_id, window_start=120, window_seconds=60, limit=100)
    assert later.admitted and later.window_start == 120
    assert store.takes == [(60, 25), (120, 25)]  # a new lease, not the 24 left of the first
    # A thread that read the clock just before the minute turned counts in the lease's window.
    late = book.admit(key_id=key_id, window_start=60, window_seconds=60, limit=100)
    assert late.admitted and late.window_start == 120 and len(store.takes) == 2


def test_a_refusal_comes_only_once_every_block_is_leased(lease_settings):
    store, key_id = MemoryStore(), uuid.uuid4()
    book = LeaseBook(store)
    answers = [book.admit(key_id=key_id, window_start=60, window_seconds=60, limit=5) for _ in range(7)]
    assert [a.admitted for a in answers] == [True] * 5 + [False] * 2
    assert [a.remaining for a in answers] == [4, 3, 2, 1, 0, 0, 0]


def test_unused_blocks_go_back_to_the_store(lease_settings):
    store, key_id = MemoryStore(), uuid.uuid4()
    first, second = LeaseBook(store), LeaseBook(store)
    assert first.admit(key_id=key_id, window_start=60, window_seconds=60, limit=200).admitted  # leases 50
    first.release_all()  # the worker stops
    assert store.leased[(key_id, 60)] == 1
    admitted = [second.admit(key_id=key_id, window_start=60, window_seconds=60, limit=200) for _ in range(250)]
    assert sum(a.admitted for a in admitted) == 199


def test_a_changed_limit_gives_the_lease_back_and_leases_again(lease_settings):
    store, key_id = MemoryStore(), uuid.uuid4()
    book = LeaseBook(store)
    assert book.admit(key_id=key_id, window_start=60, window_seconds=60, limit=1000).admitted  # leases 50
    answers = [book.admit(key_id=key_id, window_start=60, window_seconds=60, limit=3) for _ in range(3)]
    # The block under the old limit is returned (1 used of it), and the new limit is exact.
    assert [a.admitted for a in answers] == [True, True, False]


def test_a_store_that_does_not_answer_fails_open(lease_settings):
    import redis

    class Down(MemoryStore):
        def take(self, **kwargs):
            raise redis.ConnectionError("down")

    assert LeaseBook(Down()).admit(key_id=uuid.uuid4(), window_start=60, window_seconds=60, limit=5) is None


def test_a_book_full_of_keys_gives_back_the_current_windows_leases_only(lease_settings, monkeypatch):
    monkeypatch.setattr("usage.leases.MAX_KEYS", 2)
    store = MemoryStore()
    book = LeaseBook(store)
    old, current, new = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert book.admit(key_id=old, window_start=60, window_seconds=60, limit=200).admitted
    assert book.admit(key_id=current, window_start=120, window_seconds=60, limit=200).admitted
    assert book.admit(key_id=new, window_start=120, window_seconds=60, limit=200).admitted  # drops both
    assert store.leased == {(old, 60): 50, (current, 120): 1, (new, 120): 50}
