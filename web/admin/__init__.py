"""Django admin, one module per app's models; the admin's autodiscovery imports this package."""
from web.admin import accounts, keys, usage  # noqa: F401  (registers the ModelAdmins)
