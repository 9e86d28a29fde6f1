"""Each worker's leases of the management abuse limit's quota (usage.windows keeps the count).

A worker admits a key's management requests from a block of the minute's quota that it leased
with one atomic operation, and asks the store again only when the block is spent: exact, since the
store never leases more than the limit in all, without a round trip per request. The threads of a
worker share its lease of a key (one lock per key, held across the store's answer, so they never
lease twice for one need). A lease belongs to one window: a request of a later window never
spends it, and one of an earlier window (a thread that read the clock just before the minute
turned) counts in the lease's window, as the database's count does.

What a lease did not use goes back to the store when the worker drops it before its window ends
(the limit changed, too many keys held, the worker stops: gunicorn's worker_exit); a lease of an
ended window is simply dropped, since its count no longer matters.

The RateLimit `remaining` a worker reports is conservative: the limit, less everything leased to
every worker as of this worker's last lease (other workers' unused blocks count as used, though
they may never be), plus what this worker's own block still holds. It is never more than what
was truly left when this worker last leased, less what it admitted since: the same snapshot the
count of one round trip per request gave (other workers' requests since are not in it, as they
were not then), never counting another worker's unused block as available. Since blocks are
disjoint shares of one count, no two admissions of a window report the same figure.
"""
import threading
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError

from usage import windows

MAX_KEYS = 10_000  # leases a worker holds; past that it gives back and drops them all


@dataclass(frozen=True)
class Admission:
    admitted: bool
    remaining: int  # conservative (module docstring); 0 when refused
    window_start: int  # the window the request counted in


class _Lease:
    __slots__ = ("lock", "window_start", "limit", "left", "leased")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.window_start = -1
        self.limit = 0
        self.left = 0  # requests this worker may still admit from its block
        self.leased = 0  # the window's quota leased to every worker, as of this worker's last lease


class LeaseBook:
    """One worker's leases, one per key (a process has one, `book`; tests make several to play
    several workers or nodes). `store` is usage.windows, or a stand-in with its take/give_back."""

    def __init__(self, store: Any = windows) -> None:
        self.store = store
        self._leases: dict[Any, _Lease] = {}
        self._lock = threading.Lock()

    def admit(self, *, key_id, window_start: int, window_seconds: int, limit: int) -> Admission | None:
        """Admit or refuse one request of the key in the window starting at `window_start`; None
        when the store did not answer (nothing counted: the management limit fails open)."""
        import redis

        lease = self._lease(key_id, window_start)
        with lease.lock:
            if window_start < lease.window_start and lease.limit == limit:
                window_start = lease.window_start  # an earlier window's request counts in the lease's
            elif window_start != lease.window_start or lease.limit != limit:
                if lease.left and window_start == lease.window_start:
                    self.store.give_back(key_id=key_id, window_start=lease.window_start, amount=lease.left)
                # Never spend a lease in another window than its own, nor under another limit.
                lease.window_start, lease.limit, lease.left, lease.leased = window_start, limit, 0, 0
            if not lease.left:
                try:
                    taken = self.store.take(key_id=key_id, window_start=window_start, window_seconds=window_seconds,
                                            limit=limit, max_block=settings.MANAGEMENT_LEASE_MAX_BLOCK,
                                            divisor=2 * max(1, settings.MANAGEMENT_LEASE_WORKERS))
                except (redis.RedisError, DatabaseError):
                    windows.log.warning("Management requests not counted: the counter store did not answer",
                                        exc_info=True)
                    return None
                lease.left, lease.leased = taken.granted, taken.leased
                if not taken.granted:
                    return Admission(False, 0, window_start)
            lease.left -= 1
            return Admission(True, max(0, limit - lease.leased + lease.left), window_start)

    def _lease(self, key_id, window_start: int) -> _Lease:
        dropped: dict = {}
        with self._lock:
            lease = self._leases.get(key_id)
            if lease is None:
                if len(self._leases) >= MAX_KEYS:
                    dropped, self._leases = self._leases, {}
                lease = self._leases[key_id] = _Lease()
        # Outside the book's lock; leases of ended windows need nothing given back.
        self._release({k: v for k, v in dropped.items() if v.window_start >= window_start})
        return lease

    def release_all(self) -> None:
        """Give back every unused block (the worker stops); later requests lease anew."""
        with self._lock:
            leases, self._leases = self._leases, {}
        self._release(leases)

    def _release(self, leases: dict) -> None:
        for key_id, lease in leases.items():
            with lease.lock:
                left, lease.left = lease.left, 0
                if left:
                    self.store.give_back(key_id=key_id, window_start=lease.window_start, amount=left)


book = LeaseBook()
