"""Settings read on every request, as plain attributes.

Django's `settings` is a LazyObject whose `__getattribute__` runs Python code on every read
(about 3,000 instructions: as much as hashing a key); a keyed request read a dozen. `hot.NAME`
is `settings.NAME` read once, kept until any setting changes (`override_settings` and
pytest-django's `settings` fixture send `setting_changed`; production never changes them)."""
from django.conf import settings
from django.core.signals import setting_changed


class HotSettings:
    def __getattr__(self, name: str):
        # Only a name not read since the last change gets here; later reads find the attribute.
        value = getattr(settings, name)
        self.__dict__[name] = value
        return value


hot = HotSettings()
setting_changed.connect(lambda **kwargs: hot.__dict__.clear(), weak=False)
