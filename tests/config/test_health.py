"""/healthz, /readyz and /metrics, in process."""
import os
import threading

import pytest

from tests.clients import key_client
from usage.recorder import Recorder
from web import health

pytestmark = pytest.mark.django_db
TOKEN = "a-metrics-token-of-the-operator"


def test_healthz_answers_without_touching_anything(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_says_what_it_checked(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "cache": "ok", "request_log_writer": "ok",
                                                         "invalidation_listener": "ok"}}


def test_readyz_is_503_and_names_what_is_wrong(client, monkeypatch):
    def down():
        raise ConnectionError("refused")

    monkeypatch.setattr(health, "_database", down)
    dead = Recorder(interval=1)
    monkeypatch.setattr(dead, "_ensure_thread", lambda: None)
    dead._pid, dead._thread = os.getpid(), threading.Thread(target=lambda: None)  # never started: not alive
    monkeypatch.setattr(health, "recorder", dead)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "unavailable: ConnectionError"
    assert body["checks"]["request_log_writer"].startswith("stopped")
    assert body["checks"]["cache"] == "ok"


def test_metrics_are_off_until_a_token_or_addresses_are_set(client):
    response = client.get("/metrics")
    assert response.status_code == 404 and "METRICS_TOKEN" in response.json()["detail"]


@pytest.mark.parametrize("headers", [{}, {"HTTP_AUTHORIZATION": "Bearer wrong"}, {"HTTP_AUTHORIZATION": TOKEN}])
def test_metrics_refuse_a_scraper_without_the_token(client, settings, headers):
    settings.METRICS_TOKEN = TOKEN
    response = client.get("/metrics", **headers)
    assert response.status_code == 403 and response.json()["code"] == "metrics_forbidden"


def test_metrics_count_what_was_asked(client, settings, alice_key):
    settings.METRICS_TOKEN = TOKEN

    def counts():
        text = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
        rows = [row.split() for row in text.splitlines() if row.startswith("keyhouse_key_verifications_total{")]
        return {name.split('"')[1]: float(value) for name, value in rows}

    before = counts()
    key_client(alice_key[1]).get("/api/v1/me")
    key_client(alice_key[1]).get("/api/v1/me")
    refused = key_client("sk_live_" + "x" * 40).get("/api/v1/me")
    assert refused.status_code == 401
    after = counts()
    assert after["valid"] - before.get("valid", 0) == 2
    assert sum(after.values()) - sum(before.values()) == 3


def test_metrics_from_an_allowed_address(client, settings):
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.1").status_code == 403
