"""Settings for pytest; DATABASE_URL and CACHE_URL still pick PostgreSQL and Redis in CI."""
from config.settings.base import *  # noqa: F401,F403

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
