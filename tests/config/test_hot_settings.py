"""core.hot_settings: settings read on every request follow every change a test (or
override_settings) makes, and go back with it."""
from django.test import RequestFactory, override_settings

from core.hot_settings import hot
from core.network import client_ip


def test_a_changed_setting_is_read_again_and_restored_after(settings):
    before = hot.TRUSTED_PROXY_COUNT
    with override_settings(TRUSTED_PROXY_COUNT=before + 2):
        assert before + 2 == hot.TRUSTED_PROXY_COUNT
    assert before == hot.TRUSTED_PROXY_COUNT
    settings.TRUSTED_PROXY_COUNT = 1
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert client_ip(request) == "203.0.113.7"
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(request) == "10.0.0.9"
