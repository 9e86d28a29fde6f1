"""Production: no defaults for secrets. Starting without them is an error, not a guess."""
from django.core.exceptions import ImproperlyConfigured

from config.settings.base import *  # noqa: F401,F403
from config.settings.base import env

DEBUG = False

for _name in ("DJANGO_SECRET_KEY", "ALLOWED_HOSTS"):
    if not env.str(_name, default=""):
        raise ImproperlyConfigured(f"{_name} must be set in the environment for production.")
if not (env.str("API_KEY_PEPPERS", default="") or env.str("API_KEY_PEPPER", default="")):
    raise ImproperlyConfigured("API_KEY_PEPPER must be set in the environment for production "
                               "(or API_KEY_PEPPERS, newest first, while rotating it).")

SECRET_KEY = env("DJANGO_SECRET_KEY")
API_KEY_PEPPERS = env.list("API_KEY_PEPPERS", default=[]) or [env("API_KEY_PEPPER")]
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")

SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
