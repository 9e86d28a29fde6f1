"""API clients authenticated the ways users authenticate."""
from rest_framework.test import APIClient

from core.errors import PROBLEMS


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


PROBLEM_MEMBERS = {"type", "title", "status", "detail", "instance", "code"}


def problem(response) -> dict:
    """The RFC 9457 problem a refusal carries, after checking what every problem has: its media
    type, its members, its status and a `type` URL naming its code."""
    assert response["Content-Type"] == "application/problem+json", response["Content-Type"]
    body = response.json()
    assert set(body) >= PROBLEM_MEMBERS, body
    assert body["status"] == response.status_code and body["detail"] and body["instance"], body
    registered = PROBLEMS[body["code"]].type_uri  # a 429 past a quota: the RateLimit draft's own type
    assert body["type"] == registered if registered else body["type"].endswith("/api/problems/" + body["code"]), body
    return body


def named_inputs(body: dict) -> set[str]:
    """The inputs a problem's `errors` name: body fields (a JSON Pointer's first part),
    query parameters and headers."""
    return {entry["pointer"].split("/")[1] if entry.get("pointer") else entry.get("parameter") or entry.get("header")
            for entry in body.get("errors", [])}
