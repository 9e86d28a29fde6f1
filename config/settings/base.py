"""Settings shared by every environment; each value comes from the environment with a safe
development default. production.py refuses to start without the secrets."""
import ipaddress
import tomllib
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from csp.constants import NONE, SELF

from config.env import BASE_DIR, env

# One version for the package, the OpenAPI document and error reports: pyproject.toml's.
VERSION = tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["project"]["version"]
DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="dev-only-insecure-secret-key-change-me")
# HMAC keys for API-key hashes, newest first (comma-separated; API_KEY_PEPPER for just one).
# Keys hashed under an older pepper still verify and are re-hashed under the newest on use;
# dropping a pepper from the list invalidates the keys not yet re-hashed (docs/pepper-rotation.md).
API_KEY_PEPPERS = env.list("API_KEY_PEPPERS", default=[]) or [env("API_KEY_PEPPER", default="dev-only-insecure-pepper")]
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])

INSTALLED_APPS = [
    "web.admin_apps.KeyhouseAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_tasks",
    "django_tasks_db",
    "accounts",
    "audit",
    "keys",
    "usage",
    "web",
]

MIDDLEWARE = [
    # Outermost, so it compresses what every other middleware produced (web/compression.py).
    "web.compression.HtmlGZipMiddleware",
    "core.metrics.MetricsMiddleware",
    "core.request_id.RequestIdMiddleware",
    "core.errors.ApiErrorBodyMiddleware",
    "core.chunked.ChunkedBodyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Before sessions and CSRF: a locked-out sign-in costs one query, not a page (docs/security.md).
    "accounts.lockout.LockoutGateMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "usage.middleware.UsageMiddleware",
    "keys.legacy.LegacyKeyNoticeMiddleware",
    "core.lean_api.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "core.lean_api.AuthenticationMiddleware",
    "audit.services.AuditContextMiddleware",
    "core.lean_api.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'keyhouse.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    if DATABASES["default"]["NAME"] not in ("", ":memory:"):
        # A fresh clone has no var/ yet; manage.py must work there without `make run`.
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets readers work while a writer commits; IMMEDIATE takes the write lock at
        # BEGIN so two writers queue instead of failing with "database is locked".
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
# Keep connections across requests: opening one (and, for SQLite, setting WAL up again) on
# every request that touches the database costs more than most of those requests.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://keyhouse")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    # One connection pool per process, not per thread or per ASGI request (core.redis_client).
    CACHES["default"]["BACKEND"] = "core.redis_client.ProcessRedisCache"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# Sign-in throttling with django-axes (docs/security.md). Only the two password forms,
# /accounts/login/ and /admin/login/, call authenticate(): keyed API requests never reach axes.
INSTALLED_APPS += ["axes"]
# Last, so that it sees the response of the sign-in that axes refused and replaces it.
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]
# Axes first: a locked-out attempt stops there, before ModelBackend runs the password hasher.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
# A username from one address: locking the username alone would let anyone lock anyone out,
# locking the address alone would lock a whole office behind one NAT out for one person's typos.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=20)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=15))
AXES_CLIENT_IP_CALLABLE = "core.network.client_ip"
# Named, not left to axes' lazy default: error reports list every setting, and their key-masking
# filter takes strings, which a lazy object only pretends to be.
AXES_USERNAME_FORM_FIELD = "username"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
# Attempts while locked out write nothing: the lockout ends a fixed time after the last counted
# failure (so the page can say when), and a flood of attempts neither grows the attempt row
# (axes appends each attempt's form fields to it) nor takes the database's write lock.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# Signing in proves the password at that address: the count starts again.
AXES_RESET_ON_SUCCESS = True
# No journal of every sign-in: nothing would prune it, and the lockout does not need it.
AXES_DISABLE_ACCESS_LOG = True
# web.admin.accounts registers the attempts (the one thing to unlock), for superusers only.
AXES_ENABLE_ADMIN = False
# No banner on every start of every process and command; failures and lockouts are still logged.
AXES_VERBOSE = False

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
# Served at the site's root: browsers ask every page, admin and API docs included, for /favicon.ico.
WHITENOISE_ROOT = BASE_DIR / "static" / "root"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Content-Security-Policy with django-csp (docs/security.md): the site's own files only, no
# inline script or style, no plugins, no framing, forms post only here. The API docs pages add
# what Swagger UI and Redoc need, on those pages alone (web/views.py).
INSTALLED_APPS += ["csp"]
# Outside the sign-in lockout (axes' middleware is last and replaces a refused sign-in's
# response), so that its page gets the header too.
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "core.lean_api.CSPMiddleware")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# Error reports must never carry a key: the filter also hides the Authorization header, and the
# reporter masks a key in the request URL or the exception message.
DEFAULT_EXCEPTION_REPORTER_FILTER = "core.errors.SecretsExceptionReporterFilter"
DEFAULT_EXCEPTION_REPORTER = "core.logging.KeyMaskingExceptionReporter"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "keys.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "keys.restrictions.KeyRestrictionsPermission",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["usage.limits.KeyLimitThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "core.schema.AutoSchema",
    "EXCEPTION_HANDLER": "core.exception_handler.exception_handler",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Keyhouse API",
    "DESCRIPTION": (
        "Create, list, rename, regenerate and revoke API keys, and check who a key belongs to. "
        "Authenticate with a key in the `API-Key`, `X-API-Key` or `Authorization: Bearer` "
        "header (never in the URL), or with a browser session. Every error is an RFC 9457 problem "
        "(`application/problem+json`: `type`, `title`, `status`, `detail`, `instance`) with a `code` to "
        "branch on; invalid input lists each field, parameter or header in `errors`. The `type` URL, "
        "`/api/problems/<code>`, documents the code."
    ),
    # 3.1: JSON Schema's own `null` type, so the nulls sent (a key without limits) validate.
    "OAS_VERSION": "3.1.0",
    "VERSION": VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and docs are public: a bad key sent along must not turn them into a 401 that
    # the schema view would render as YAML, outside the one JSON error shape.
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Relative: the schema describes whichever host serves it.
    "SERVERS": [{"url": "/", "description": "The Keyhouse serving this schema"}],
    "ENUM_NAME_OVERRIDES": {"KeyMode": "keys.models.Mode", "RoleEnum": "accounts.models.Role",
                            "ResetPeriodEnum": "accounts.models.ResetPeriod.values",
                            "Scope": "keys.restrictions.SCOPE_NAMES", "AuditAction": "audit.models.AuditAction"},
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "core.schema.add_problem_components"],
}

# Secret shared with secret scanners that report leaked keys to POST /api/v1/leaks (HMAC-SHA256
# of the body, hex, in the Keyhouse-Signature header as "sha256=..."). Empty: reports refused.
LEAK_REPORT_SECRET = env("LEAK_REPORT_SECRET", default="")
# Mail and other slow work runs in `manage.py db_worker`, never in a request or a transaction.
# The queue is a table in the same database: nothing more to run, and a task queued inside a
# transaction is queued only if that transaction commits.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
# Mail: EMAIL_URL in django-environ's forms, e.g. smtp+tls://user:password@smtp.example.com:587;
# printed to the console by default. EMAIL_BACKEND still overrides the backend alone.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
EMAIL_BACKEND = env("EMAIL_BACKEND", default=vars()["EMAIL_BACKEND"])  # set by the line above
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="keyhouse@localhost")
SERVER_EMAIL = env("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
# Who gets the error reports: "Ops <ops@example.com>,security@example.com".
ADMINS = [parseaddr(admin) for admin in env.list("ADMINS", default=[])]
# Error reports to Sentry too, keys masked (core/sentry.py).
SENTRY_DSN = env("SENTRY_DSN", default="")
if SENTRY_DSN:
    from core.sentry import sentry_init

    sentry_init(SENTRY_DSN, environment=env("SENTRY_ENVIRONMENT", default="production"), release=VERSION)
# Seconds to wait on the mail server: one that never answers would otherwise hold the worker,
# and every mail queued behind it, for good.
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=30)

# How many reverse proxies in front of Keyhouse append to X-Forwarded-For; 0 trusts none of it.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# Who may read /metrics: a bearer token, or addresses (CIDR); with neither, it is off (404).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = [str(ipaddress.ip_network(n, strict=False)) for n in env.list("METRICS_ALLOWED_IPS", default=[])]

# Price of one request per tier, in microcents (millionths of a cent). A view names its tier
# with `usage_tier`; test-mode keys are never charged.
USAGE_TIERS = {"free": 0, "standard": 100, "premium": 1000}
# Requests a minute one key may make to Keyhouse's own routes (keys, limits, usage, audit, /me),
# which never count against its product quota; 0: no such limit.
MANAGEMENT_REQUESTS_PER_MINUTE = env.int("MANAGEMENT_REQUESTS_PER_MINUTE", default=600)
# Each worker leases blocks of that quota from the shared count (usage.leases): at most
# MANAGEMENT_LEASE_MAX_BLOCK requests, and, as the minute's quota runs low, the room left over
# twice the workers expected across every node (MANAGEMENT_LEASE_WORKERS, WEB_CONCURRENCY by
# default), down to 1 near the limit. The limit stays exact whatever these are; they only set
# how often a worker asks the store, and how much of the quota unused blocks may hold back.
MANAGEMENT_LEASE_MAX_BLOCK = env.int("MANAGEMENT_LEASE_MAX_BLOCK", default=50)
MANAGEMENT_LEASE_WORKERS = env.int("MANAGEMENT_LEASE_WORKERS", default=env.int("WEB_CONCURRENCY", default=2))
# How often each worker writes its buffered request log; 0 writes every record at once.
USAGE_FLUSH_SECONDS = env.float("USAGE_FLUSH_SECONDS", default=1.0)
# A key far from its product limit is counted in blocks each worker reserves and settles at each
# flush of its log (usage.quota_leases): its share of the room left, the room over twice every
# worker expected (MANAGEMENT_LEASE_WORKERS), leased while that share holds at least this many
# requests, at most ten times this. The limit stays exact whatever this is; 0 counts every
# request on its own, as does USAGE_FLUSH_SECONDS = 0.
USAGE_LEASE_BLOCK = env.int("USAGE_LEASE_BLOCK", default=100)
# Active keys one person may hold in one company: a script that creates keys in a loop stops
# here, and a person who needs more revokes the ones they no longer use.
API_KEYS_PER_USER = env.int("API_KEYS_PER_USER", default=100)
# How late a worker may learn of a change to a key (keys.cache): half a second keeps the
# promise of "within one second" with room for the request in flight. With Redis every worker
# is told at once, and a worker serves its copies only while its channel answered within this
# time; with local memory only, only while it read the database's change generation within it.
API_KEY_LOCAL_SECONDS = env.float("API_KEY_LOCAL_SECONDS", default=0.5)
# How long a verified key stays cached: in a shared Redis cache, and in each worker's memory
# behind it (or alone, with local memory only); every change invalidates it.
API_KEY_CACHE_SECONDS = env.float("API_KEY_CACHE_SECONDS", default=300)
# With local memory only, whether every key change is counted on one database row that each
# worker reads every API_KEY_LOCAL_SECONDS (keys.cache), so its copies can live
# API_KEY_CACHE_SECONDS. On by default with SQLite, whose writers queue anyway. Off elsewhere:
# on PostgreSQL the row's lock would queue concurrent key changes and could deadlock two that
# lock keys in opposite orders; run Redis there (without it, copies live API_KEY_LOCAL_SECONDS).
API_KEY_CHANGES_IN_DATABASE = env.bool(
    "API_KEY_CHANGES_IN_DATABASE", default=DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3")

# Every handler masks API keys (core.logging): a key pasted into a URL would otherwise be
# logged whole by "Not Found: <path>". Django's default handlers do not mask, so they are
# replaced here: "django" keeps its error mail to ADMINS and reaches the console through the
# root (as before, minus the DEBUG-only copy), and runserver's request lines go to the console.
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "mask_keys": {"()": "core.logging.KeyMaskingFilter"},
        "request_id": {"()": "core.request_id.RequestIdFilter"},
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        # One JSON object a line, for a log shipper: the same fields, named.
        "json": {"()": "core.logging.KeyMaskingJsonFormatter", "timestamp": True,
                 "fmt": "%(levelname)s %(name)s %(request_id)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": env("LOG_FORMAT", default="plain"),
                    "filters": ["mask_keys", "request_id"]},
        "mail_admins": {"class": "django.utils.log.AdminEmailHandler", "level": "ERROR",
                        "filters": ["require_debug_false", "mask_keys"]},
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django": {"handlers": ["mail_admins"], "level": "INFO"},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # Failures and lockouts (WARNING), not a line of bookkeeping for every attempt of a flood.
        "axes": {"level": "WARNING"},
    },
}
