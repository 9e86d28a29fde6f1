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
# Behind a TLS proxy (docs/deploy.md). The proxy's scheme header, named as it is sent
# ("X-Forwarded-Proto"), is trusted only when set: a proxy that does not overwrite it would let
# any client claim https.
_scheme_header = env.str("SECURE_PROXY_SSL_HEADER", default="")
SECURE_PROXY_SSL_HEADER = ("HTTP_" + _scheme_header.upper().replace("-", "_"), "https") if _scheme_header else None
# Origins of form posts other than the site's own host, e.g. https://keys.example.com when the
# proxy does not pass the Host header through.
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
USE_X_FORWARDED_HOST = env.bool("USE_X_FORWARDED_HOST", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
# Load balancers and Prometheus probe from inside the network, often over plain http.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
# A year, subdomains and preload: what `check --deploy` asks for. A site that also serves plain
# http on a subdomain sets SECURE_HSTS_INCLUDE_SUBDOMAINS=false before its first deploy.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)

# JSON lines unless told otherwise: production logs go to a shipper, not a person's terminal.
LOGGING["handlers"]["console"]["formatter"] = env("LOG_FORMAT", default="json")  # noqa: F405
