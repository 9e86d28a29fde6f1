"""gunicorn settings for `make run` and for every test that starts a real gunicorn.

HOST, PORT, WEB_CONCURRENCY (worker processes), GUNICORN_WORKER_CLASS (below),
GUNICORN_THREADS (threads per worker), GUNICORN_WORKER_CONNECTIONS (gevent),
GUNICORN_KEEPALIVE and GUNICORN_HEADER_TIMEOUT (seconds) override; docs/serving.md says why
these values and when to put a reverse proxy in front.
"""
import os

if os.environ.get("GUNICORN_WORKER_CLASS") == "gevent":
    # Before anything else is imported: the imports below already load Django, whose
    # per-thread state (database connections) must be per greenlet, and psycopg picks its wait
    # function when it is imported (gunicorn's worker patches again, harmlessly).
    from gevent import monkey

    monkey.patch_all()

import glob  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

from gunicorn.glogging import Logger  # noqa: E402

from core.logging import KeyMaskingFilter  # noqa: E402

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# GUNICORN_WORKER_CLASS picks one of these (docs/serving.md, docs/benchmarks.md). The default,
# "threads": gthread, with each request's head read by the worker's event loop
# (config.gunicorn_worker): a connection that is slow or idle holds no thread, so a few of them
# cannot stall the rest. "gevent": one greenlet per connection (config.gunicorn_gevent; the
# standard library patched at the top of this file, before Django, psycopg or redis-py are
# imported, so they yield while they wait); a slow head holds a greenlet, not a thread, up to
# GUNICORN_WORKER_CONNECTIONS, with no header timeout. "gthread" and "sync" are gunicorn's own,
# for comparison (their refusals of bad heads are gunicorn's HTML, not problems).
WORKER_CLASSES = {
    "threads": "config.gunicorn_worker.HeadReadingWorker",
    "gevent": "config.gunicorn_gevent.ProblemGeventWorker",
    "gthread": "gthread",
    "sync": "sync",
}
WORKER_CLASS = os.environ.get("GUNICORN_WORKER_CLASS", "threads")
if WORKER_CLASS not in WORKER_CLASSES:
    raise SystemExit(f"GUNICORN_WORKER_CLASS must be one of {', '.join(WORKER_CLASSES)}, not {WORKER_CLASS!r}.")
worker_class = WORKER_CLASSES[WORKER_CLASS]
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# An idle kept-alive connection costs a socket, not a thread: clients that reuse connections
# skip the TCP handshake. The default of 2 s would close them between a script's calls.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
graceful_timeout = 10
accesslog = "-"
# %(U)s is the path without the query string, so a key in a query string never reaches the log;
# one pasted into the path is masked (KeyMaskingLogger).
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'


class KeyMaskingLogger(Logger):
    """gunicorn's error and access logs mask keys as Django's do: a key in the path is still in
    %(U)s. setup() builds the handlers (stream, file or syslog, as configured) and runs again
    on every reload, so each handler it makes gets the filter."""

    def setup(self, cfg):
        super().setup(cfg)
        for handler in self.error_log.handlers + self.access_log.handlers:
            if not any(isinstance(f, KeyMaskingFilter) for f in handler.filters):
                handler.addFilter(KeyMaskingFilter())


logger_class = KeyMaskingLogger


_made_metrics_dir: list[str] = []  # the directory on_starting made, which on_exit removes
METRICS_DIR_PREFIX = "keyhouse-metrics-"


def on_starting(server):
    """Prometheus (core/metrics.py): each worker writes its values to files in this directory,
    named before any worker imports prometheus_client, and /metrics adds them up. One kept from
    an earlier run would add that run's counts to this one's."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        _remove_orphaned_metrics_dirs()
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix=f"{METRICS_DIR_PREFIX}{os.getpid()}-")
        _made_metrics_dir.append(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
    for stale in glob.glob(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "*.db")):
        os.remove(stale)


def _remove_orphaned_metrics_dirs() -> None:
    """on_exit removes the directory, but a master killed outright (SIGKILL, the OOM killer)
    never runs it: its directory, named with its pid, goes once that pid is gone. A live
    process of that pid (another gunicorn, or a reused pid) keeps it."""
    for path in glob.glob(os.path.join(tempfile.gettempdir(), f"{METRICS_DIR_PREFIX}*-*")):
        pid = os.path.basename(path).removeprefix(METRICS_DIR_PREFIX).partition("-")[0]
        if not pid.isdigit():
            continue  # made before the pid was in the name: whose it is cannot be told
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:
            pass  # alive, another user's


def on_exit(server):
    for made in _made_metrics_dir:
        shutil.rmtree(made, ignore_errors=True)


def child_exit(server, worker):
    """A dead worker's counts stay in the totals; its gauges (the log backlog) leave them."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def worker_exit(server, worker):
    """Write the worker's buffered request log before it goes: a restart loses no record; and
    give back what its management leases did not use (usage.leases)."""
    from usage.leases import book
    from usage.recorder import recorder

    recorder.close()
    book.release_all()
