"""Writing the request log in batches, off the request path.

Each gunicorn worker keeps the records of its requests in memory and a background thread
writes them, with their hourly and daily rollups, in one transaction at least every
USAGE_FLUSH_SECONDS: one INSERT per batch instead of one transaction per request, which is
what kept SQLite at a fifth of an unauthenticated request's throughput. A graceful shutdown
flushes what is left (gunicorn's worker_exit hook and atexit), so a restart loses nothing; a
hard kill (SIGKILL, power loss) can lose the last USAGE_FLUSH_SECONDS of records. With
USAGE_FLUSH_SECONDS = 0 every record is written at once (tests, single-process tools).

One bad record must never stop the log of every other request: a batch the database refuses
for what is in it is split until the rows it refuses are found; those are set aside (counted
and logged with the reason) and the rest is written. Only an unreachable database keeps a
batch back for the next try.
"""
import atexit
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

from core.metrics import USAGE_BACKLOG, USAGE_FLUSH_SECONDS, USAGE_RECORDS
from usage.log_writes import LogRecord, write

logger = logging.getLogger(__name__)
# Past this many unwritten records (the database is down for long), the oldest are dropped
# and counted, rather than growing a worker's memory without bound.
MAX_PENDING = 200_000
# The database is down or locked: the same rows will go in once it answers again.
UNREACHABLE = (OperationalError, InterfaceError)


class Recorder:
    def __init__(self, interval: float):
        self.interval = interval
        self._pending: list[LogRecord] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        # Whether the writer thread runs: set before it starts, cleared as it ends, however it
        # ends. Cheaper to read on every record than Thread.is_alive().
        self._running = False
        # What this worker's share of the backlog gauge shows: counted at each flush, and when
        # a record arrives while it shows none, so it is never 0 while a record waits. Not
        # counted on every record: the gauge's lock and shared file cost as much as the rest.
        self._shown = 0
        self._closing = threading.Event()
        # written, set_aside, dropped and restarts, for this worker since it started.
        self.stats: Counter[str] = Counter()
        # Run after each flush, on the writer's thread: what settles on the same beat as the log
        # (usage.quota_leases); the worker's last flush calls each with final=True.
        self.after_flush: list[Callable[[bool], None]] = []

    def add(self, record: LogRecord) -> None:
        if self.interval <= 0:
            self._write_or_set_aside([record])
            return
        with self._lock:
            self._pending.append(record)
            if not self._shown:
                self._show_backlog()
            if len(self._pending) > MAX_PENDING:
                dropped = len(self._pending) - MAX_PENDING
                del self._pending[:dropped]
                self._count("dropped", dropped)
                self._show_backlog()
                logger.error("Dropped %d unwritten usage records (%d in all): the database has been unreachable "
                             "too long.", dropped, self.stats["dropped"])
            self._ensure_thread()

    def _show_backlog(self) -> None:
        """Under _lock: the gauge shows what waits now (a batch being written is shown until
        its flush ends)."""
        waiting = len(self._pending)
        USAGE_BACKLOG.inc(waiting - self._shown)
        self._shown = waiting

    def alive(self) -> bool:
        """False only when this worker's writer thread has died (the next record restarts it)."""
        thread = self._thread
        return (self.interval <= 0 or self._pid != os.getpid() or (thread is not None and thread.is_alive())
                or self._closing.is_set())

    def _ensure_thread(self) -> None:
        # A forked gunicorn worker inherits the object but not the thread; a thread that died
        # anyway is started again by the next request. Called under _lock: a worker's first
        # requests, on several threads at once, start one writer.
        pid = os.getpid()
        if self._running and self._pid == pid:
            return
        if self._pid == pid:
            self.stats["restarts"] += 1
            logger.error("The usage recorder's thread had stopped; started it again.")
        # Running before it starts: a thread that ends at once clears the flag after this.
        self._pid, self._running = pid, True
        thread = self._thread = threading.Thread(target=self._run, name="usage-recorder", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # no thread to be had (a thread or memory limit): the record waits
            self._running = False
            logger.error("The usage recorder could not start its thread; the next record tries again.",
                         exc_info=True)

    def _run(self) -> None:
        try:
            while not self._closing.wait(self.interval):
                try:
                    # This thread serves no requests, so Django never recycles its connection for it.
                    connection.close_if_unusable_or_obsolete()
                    self.flush()
                except Exception:
                    logger.exception("The usage recorder failed; its records are kept for the next try.")
                self._after_flush()
        finally:
            self._running = False
            # Nor closes it: a stopped writer would leave its database session open behind it.
            connection.close()

    def _after_flush(self, final: bool = False) -> None:
        for hook in self.after_flush:
            try:
                hook(final)
            except Exception:
                logger.exception("A task run after the usage recorder's flush failed.")

    def flush(self) -> int:
        """Write what is pending; what the database could not take for being down is kept for
        the next try. Returns rows written."""
        with self._flush_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return 0
            with USAGE_FLUSH_SECONDS.time():
                written, unwritten = self._write_or_set_aside(batch)
            if unwritten:
                logger.error("Writing %d usage records failed: the database is unreachable; will retry.",
                             len(unwritten), exc_info=True)
            with self._lock:
                self._pending[:0] = unwritten
                self._show_backlog()
            return written

    def close(self) -> int:
        """Stop the thread and write what is left: a worker's last act."""
        self._closing.set()
        if self._thread is not None and self._pid == os.getpid():
            self._thread.join(timeout=self.interval + 30)
        written = self.flush()
        self._after_flush(final=True)
        return written

    def _write_or_set_aside(self, batch: list) -> tuple[int, list]:
        """(rows written, rows kept back because the database is unreachable)."""
        parts, written = [batch], 0
        while parts:
            part = parts.pop()
            try:
                write(part)
            except UNREACHABLE:
                if self.interval <= 0:
                    raise
                self._count("written", written)
                return written, [record for rest in (part, *reversed(parts)) for record in rest]
            except Exception as error:
                if len(part) == 1:
                    self._set_aside(part[0], error)
                else:
                    middle = len(part) // 2
                    parts += [part[middle:], part[:middle]]
            else:
                written += len(part)
        self._count("written", written)
        return written, []

    def _count(self, fate: str, records: int) -> None:
        self.stats[fate] += records
        USAGE_RECORDS.labels(fate).inc(records)

    def _set_aside(self, record, error: Exception) -> None:
        self._count("set_aside", 1)
        logger.error("Set aside a usage record the database refused (%d set aside in all): %s: %s. Record: %r",
                     self.stats["set_aside"], type(error).__name__, error, record)


recorder = Recorder(settings.USAGE_FLUSH_SECONDS)
atexit.register(recorder.close)
