"""Development defaults for `make run` and `manage.py`: the SQLite file under var/."""
from config.settings.base import *  # noqa: F401,F403
from config.settings.base import env

DEBUG = env.bool("DEBUG", default=True)
