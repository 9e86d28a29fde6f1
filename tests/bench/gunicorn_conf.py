"""`make run`'s gunicorn settings (worker_exit flushes the request log), without the access
log: writing a line per request would add the same cost to every row and flatter the ratios."""
from config.gunicorn_conf import *  # noqa: F401,F403

accesslog = None
