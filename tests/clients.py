"""API clients authenticated the ways users authenticate."""
from rest_framework.test import APIClient


def key_client(raw: str, header: str = "API-Key") -> APIClient:
    client = APIClient()
    if header == "Authorization":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    else:
        client.credentials(**{"HTTP_" + header.upper().replace("-", "_"): raw})
    return client


def session_client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client
