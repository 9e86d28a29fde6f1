import pytest
from django.test import Client

from tests.factories import make_key

LIST_URL = "/settings/advanced/api-keys/"
COMPANY_URL = "/settings/advanced/api-keys/company/"
NEW_URL = "/settings/advanced/api-keys/new/"


def key_url(key, action: str = "") -> str:
    return f"{LIST_URL}{key.pk}/{action + '/' if action else ''}"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def bob_key(bob):
    return make_key(bob, name="Bob's pipeline")
