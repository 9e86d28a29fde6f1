"""Each worker's leases of its keys' product quotas (usage.counters keeps the count).

A key far from its limit costs a round trip to the counter store once per block, not once per
request: the worker reserves a block of its quota with one atomic operation and admits from it
locally. The store counts every reservation against the ceiling, so the limit stays exact across
workers and nodes. What a worker used of its block moves from reserved to used when it settles,
at each flush of its request log (usage.recorder), so the limits page lags by the flush interval
as the usage figures do; a block it stopped using (idle since the last flush, its period or its
limit changed, its worker stopping) goes back then too.

Far means the worker's share of the room left, the room over twice every worker expected
(MANAGEMENT_LEASE_WORKERS), holds at least USAGE_LEASE_BLOCK requests; a block is that share, at
most ten times USAGE_LEASE_BLOCK. Nearer, and for any limit smaller than that, every request is
counted on its own, as when nothing leases: a refusal comes only once the quota is used or
reserved, and a block another worker holds but no longer uses goes back within a flush
interval. A worker killed outright (SIGKILL) strands its block: it stays counted against the
ceiling until the period ends, though never shown as used.

A worker stopping while the store is down cannot settle: what it used stays counted as reserved
(so the ceiling still holds it) but is never shown as used. A Redis restarted without its data
counts the period from nothing (as it always did); blocks reserved before are in no count, so a
worker's settlement of one adds what was used and releases nothing, and the worker stops spending
it (the counter's epoch tells the two lives apart).

The RateLimit `remaining` of a request admitted from a block is a snapshot: the limit, less
everything used or reserved by every worker as of this worker's last exchange with the store (its
last block, or the settlement of its last flush, at most USAGE_FLUSH_SECONDS ago), plus what its
own block still holds. What other workers reserved since is not in it, so for up to a flush
interval it may claim more than is left. A request counted on its own (near the limit) carries
the store's figure of the moment.
"""
import logging
import threading

from django.conf import settings

from core.errors import ServiceUnavailable
from core.hot_settings import hot
from usage import counters
from usage.counters import ADMITTED, LEASED, Consumption, Settlement
from usage.recorder import recorder

log = logging.getLogger(__name__)


def enabled() -> bool:
    """Blocks need a worker that settles them: one that writes its log in batches."""
    return hot.USAGE_LEASE_BLOCK > 0 and recorder.interval > 0


class _Lease:
    __slots__ = ("lock", "period", "terms", "left", "left_spend", "used", "used_spend", "back", "back_spend",
                 "seen", "epoch", "near", "gone")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.period: tuple = (None, None)  # (start, end) of the period its counts belong to
        self.terms: tuple = (None, None)  # (request limit, budget) it was leased under
        self.left = self.left_spend = 0  # what this worker may still admit from its block
        self.used = self.used_spend = 0  # admitted from its blocks since it last settled
        self.back = self.back_spend = 0  # reserved blocks it dropped, to give back
        self.seen = (0, 0)  # used + reserved requests and spend, as of its last exchange with the store
        self.epoch = ""  # the counter's life its block was reserved in (counters.Taken.epoch)
        self.near = False  # counted one by one until the next settlement
        self.gone = False  # dropped from the book: a thread holding it looks again

    def owed(self) -> Settlement:
        return Settlement(self.used, self.used_spend, self.used + self.back, self.used_spend + self.back_spend,
                          self.epoch)

    def settled(self) -> None:
        self.used = self.used_spend = self.back = self.back_spend = 0

    def drop_block(self) -> None:
        self.back += self.left
        self.back_spend += self.left_spend
        self.left = self.left_spend = 0


class QuotaBook:
    """One worker's leases, one per counter (a process has one, `book`; tests make several to
    play several workers)."""

    def __init__(self) -> None:
        self._leases: dict = {}
        self._lock = threading.Lock()
        self._orphans: list[tuple] = []  # (key_id, period, owed) of settlements that failed on a period's turn

    def consume(self, *, key_id, period_start, period_end, cost: int, request_limit, budget) -> Consumption:
        """Admit or refuse one request of `cost` against the counter `key_id`'s limits."""
        while True:
            lease = self._lease(key_id)
            with lease.lock:
                if not lease.gone:
                    return self._consume(lease, key_id, (period_start, period_end), cost, (request_limit, budget))

    def _consume(self, lease: _Lease, key_id, period: tuple, cost: int, terms: tuple) -> Consumption:
        if lease.period != period or (lease.terms != terms and not _within(lease.seen, terms)):
            self._restart(lease, key_id, period, terms)
        elif lease.terms != terms:
            # A limit raised, or two keys on one counter with limits of their own: the block was
            # within these limits too when it was reserved (every reservation counted), so it
            # stays; lowered under what was reserved, it goes back (_restart).
            lease.terms, lease.near = terms, False
        if lease.left and lease.left_spend >= cost:
            lease.left -= 1
            lease.left_spend -= cost
            lease.used += 1
            lease.used_spend += cost
            return Consumption(True, lease.seen[0] - lease.left, lease.seen[1] - lease.left_spend)
        lease.drop_block()
        least, divisor = settings.USAGE_LEASE_BLOCK, 2 * max(1, settings.MANAGEMENT_LEASE_WORKERS)
        request_limit, budget = terms
        if lease.near or (request_limit is not None and request_limit < least * divisor) or (
                budget is not None and budget < least * divisor * cost):
            least = 0  # near the limit, or a limit that is never far: one request on its own
        owed = lease.owed()
        if not least and not owed:
            lease.near = True
            return counters.consume(key_id=key_id, period_start=period[0], period_end=period[1], cost=cost,
                                    request_limit=request_limit, budget=budget)
        taken = counters.take(key_id=key_id, period_start=period[0], period_end=period[1], cost=cost,
                              request_limit=request_limit, budget=budget, settlement=owed,
                              ask=counters.Ask(least, 10 * least, divisor) if least else counters.ONE)
        lease.settled()
        if taken.mode != LEASED:
            lease.near = True
            return Consumption(taken.mode == ADMITTED, taken.requests, taken.spend_microcents, taken.refused_by)
        lease.left, lease.left_spend = taken.block - 1, (taken.block - 1) * cost
        lease.used, lease.used_spend = 1, cost
        lease.seen, lease.epoch = (taken.requests, taken.spend_microcents), taken.epoch
        return Consumption(True, taken.requests - lease.left, taken.spend_microcents - lease.left_spend)

    def _restart(self, lease: _Lease, key_id, period: tuple, terms: tuple) -> None:
        """A new period, or limits lowered under what was reserved: the block goes back; what is
        owed to another period is settled there first (in the same period, it goes with the next
        take)."""
        lease.drop_block()
        owed = lease.owed()
        if lease.period != period and owed:
            if settle(key_id, lease.period, owed) is None:
                with self._lock:
                    self._orphans.append((key_id, lease.period, owed))
            lease.settled()
        lease.period, lease.terms = period, terms
        lease.near = False

    def settle_all(self, final: bool = False) -> None:
        """Settle every lease: what it used, and a block it has not used since the last
        settlement (or any, when `final`: the worker stops), which goes back; such a lease
        leaves the book. Run by the recorder after each flush."""
        with self._lock:
            leases, orphans, self._orphans = list(self._leases.items()), self._orphans, []
        for key_id, period, owed in orphans:
            if settle(key_id, period, owed) is None:
                with self._lock:
                    self._orphans.append((key_id, period, owed))
        for key_id, lease in leases:
            with lease.lock:
                lease.near = False
                idle = final or not lease.used
                if idle:
                    lease.drop_block()
                owed = lease.owed()
                taken = settle(key_id, lease.period, owed) if owed else None
                if taken is not None:
                    lease.settled()
                    if taken.epoch != lease.epoch:  # the store lost its counts: the block is not in them
                        lease.left = lease.left_spend = 0
                    # The block's figures as of now: every worker's reservations count as used.
                    lease.seen = (taken.requests, taken.spend_microcents)
                if idle and not lease.owed():
                    with self._lock:
                        if self._leases.get(key_id) is lease:
                            del self._leases[key_id]
                    lease.gone = True

    def _lease(self, key_id) -> _Lease:
        with self._lock:
            lease = self._leases.get(key_id)
            if lease is None:
                lease = self._leases[key_id] = _Lease()
            return lease


def _within(seen: tuple, terms: tuple) -> bool:
    """Whether everything used and reserved, as of a lease's last exchange, fits these limits."""
    request_limit, budget = terms
    return (request_limit is None or seen[0] <= request_limit) and (budget is None or seen[1] <= budget)


def settle(key_id, period: tuple, owed: Settlement) -> counters.Taken | None:
    """Send a settlement to the counter of that period: the store's answer, or None when it did
    not answer (the caller keeps the settlement for the next try: it holds uses that must be
    counted)."""
    try:
        return counters.take(key_id=key_id, period_start=period[0], period_end=period[1], cost=0, request_limit=None,
                             budget=None, ask=counters.SETTLE_ONLY, settlement=owed)
    except ServiceUnavailable:
        log.warning("A quota lease was not settled: the counter store did not answer; will retry.", exc_info=True)
        return None


book = QuotaBook()
recorder.after_flush.append(book.settle_all)
