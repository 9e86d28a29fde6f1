"""Settings for pytest; DATABASE_URL and CACHE_URL still pick PostgreSQL and Redis in CI."""
import os
import re

# Under pytest-xdist (CI's PostgreSQL + Redis pass runs on every core), each worker gets a Redis
# database of its own, as pytest-django gives it a test database: every test empties the cache,
# and must not empty another worker's. Set in the environment, so the gunicorn a test starts
# shares its worker's database.
if (_worker := os.environ.get("PYTEST_XDIST_WORKER", "")).startswith("gw") and (
        _redis := re.fullmatch(r"(rediss?://[^/]*)/(\d+)", os.environ.get("CACHE_URL", ""))):
    os.environ["CACHE_URL"] = f"{_redis[1]}/{int(_redis[2]) + int(_worker[2:])}"

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
