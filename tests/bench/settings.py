"""Settings for `make bench`: the app as `make run` serves it, plus the two libraries the
benchmark compares against (djangorestframework-api-key and DRF's authtoken) and their views."""
from config.settings.local import *  # noqa: F401,F403
from config.settings.local import CACHES, INSTALLED_APPS, env

INSTALLED_APPS = [*INSTALLED_APPS, "rest_framework.authtoken", "rest_framework_api_key"]
ROOT_URLCONF = "tests.bench.urls"
# Row (bm) drives /me, a management route, from one key far above the management abuse limit;
# the limit still counts (a high bound, not off), so its cost is part of that row's figures.
MANAGEMENT_REQUESTS_PER_MINUTE = 10**12
DEBUG = False
# Several bench servers share one Redis database; each keeps its key cache apart.
if env("BENCH_CACHE_PREFIX", default=""):
    CACHES["default"]["KEY_PREFIX"] = env("BENCH_CACHE_PREFIX")
