"""The management abuse limit's count in the database (usage.windows, without a shared cache):
a request stamped with an earlier minute than the row's, from a node whose clock is a little
behind, counts in the row's minute instead of restarting the count."""
import pytest

from tests.factories import make_key
from usage.models import ManagementCounter
from usage.windows import window_count

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def counted_in_the_database(settings):
    """These tests are about the database's count, also in the pass where the cache is Redis."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


def test_an_earlier_windows_request_counts_in_the_later_window_and_does_not_restart_it(alice):
    key, _ = make_key(alice)
    # Two nodes a second apart at the minute's turn, a key sent to each in turn.
    counts = [window_count(key_id=key.pk, window_start=start, window_seconds=60) for start in (120, 60, 120, 60, 120)]
    assert counts == [1, 2, 3, 4, 5]
    assert ManagementCounter.objects.get(api_key=key).window_start == 120


def test_a_later_window_starts_the_count_again(alice):
    key, _ = make_key(alice)
    counts = [window_count(key_id=key.pk, window_start=start, window_seconds=60) for start in (60, 60, 120, 120)]
    assert counts == [1, 2, 1, 2]
