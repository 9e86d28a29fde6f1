"""Settings for pytest; DATABASE_URL and CACHE_URL still pick PostgreSQL and Redis in CI."""
import os
import re

# Under pytest-xdist (`make test` and CI run on every core), each worker gets a Redis database
# of its own, as pytest-django gives it a test database: every test empties the cache, and must
# not empty another worker's. Set in the environment, so the gunicorn a test starts shares its
# worker's database; worked out from the URL the run began with, so a child process started with
# these settings lands on its worker's database, not the next one.
if (_worker := os.environ.get("PYTEST_XDIST_WORKER", "")).startswith("gw"):
    _first = os.environ.setdefault("CACHE_URL_BEFORE_XDIST", os.environ.get("CACHE_URL", ""))
    if _redis := re.fullmatch(r"(rediss?://[^/?#]*)(?:/(\d*))?([?#].*)?", _first):
        _db = int(_redis[2] or 0) + int(_worker[2:])
        os.environ["CACHE_URL"] = f"{_redis[1]}/{_db}{_redis[3] or ''}"

from config.settings.base import *  # noqa: E402,F401,F403

# Argon2 is deliberately slow; tests log users in hundreds of times.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
API_KEY_PEPPERS = ["test-pepper"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Serve static files from the app folders, as in development: tests do not run collectstatic.
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
# Write each request-log record at once, so tests read it back without waiting.
USAGE_FLUSH_SECONDS = 0
