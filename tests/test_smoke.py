import pytest

from tests.clients import key_client

pytestmark = pytest.mark.django_db


def test_a_new_key_authenticates_me(alice_key):
    key, raw = alice_key
    response = key_client(raw).get("/api/v1/me")
    assert response.status_code == 200
    assert response.json()["api_key"]["id"] == str(key.pk)
