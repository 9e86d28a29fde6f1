"""gunicorn settings for `make run`; HOST, PORT and WEB_CONCURRENCY override."""
import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
graceful_timeout = 10
accesslog = "-"
# %(U)s is the path without the query string: a key pasted into a URL must not reach the log.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'


def worker_exit(server, worker):
    """Write the worker's buffered request log before it goes: a restart loses no record."""
    from usage.recorder import recorder

    recorder.flush()
