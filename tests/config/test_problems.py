"""Errors are RFC 9457 problems, every code the server sends is a row of one table, and the
OpenAPI schema documents each status with exactly that table's codes."""
import json
import re
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from openapi_spec_validator import validate
from rest_framework.test import APIRequestFactory

from core.errors import PROBLEMS, codes_by_status
from core.exception_handler import _DRF_CODES, exception_handler
from core.outcomes import OUTCOMES
from tests.clients import key_client, problem, session_client

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
# Codes of Django form and DRF field errors, which never reach an API answer as a problem's code.
FIELD_CODES = {"invalid", "invalid_login", "invisible_character", "invisible_name", "key_in_name", "no_limit"}


def codes_in_the_source() -> set[str]:
    """Every code the apps name where they raise or answer."""
    found = set()
    for path in [p for app in ("core", "accounts", "audit", "keys", "usage", "web", "config")
                 for p in ROOT.glob(f"{app}/**/*.py")]:
        if "migrations" in path.parts:
            continue
        text = path.read_text()
        found |= set(re.findall(r'\bcode\s*=\s*"([a-z_]+)"', text))
        found |= set(re.findall(r'problem_response\(request, "([a-z_]+)"', text))
    return found - FIELD_CODES


def test_every_code_the_server_sends_is_in_the_one_table():
    sent = codes_in_the_source() | {outcome.code for outcome in OUTCOMES.values()} | set(_DRF_CODES.values())
    assert {"invalid_pagination", "invalid_days", "invalid_organization", "api_key_in_query", "invalid_restriction",
            "ambiguous_api_key", "scope_not_allowed", "organization_mismatch", "api_key_not_found",
            "user_not_found", "target_key_revoked"} <= sent
    assert sent - set(PROBLEMS) == set()


def test_the_catalogue_reads_as_a_reference_page():
    """core/problems.toml is what a person reads on /api/problems/<code>: a title, and what to do
    in whole sentences, listed by status so that a code's neighbours are its kind."""
    statuses = [row.status for row in PROBLEMS.values()]
    assert statuses == sorted(statuses)
    for code, row in PROBLEMS.items():
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", code) and 400 <= row.status <= 599, code
        assert row.title and row.description.endswith((".", ")")) and "  " not in row.description, code
    assert {code for code, row in PROBLEMS.items() if row.type_uri} == {
        "request_limit_exceeded", "budget_limit_exceeded", "management_rate_limit_exceeded"}


def test_a_revoked_key_and_a_revoked_target_are_two_codes(alice, alice_key):
    key, raw = alice_key
    client = session_client(alice)
    client.delete(f"/api/v1/api-keys/{key.pk}")
    target = problem(client.post(f"/api/v1/api-keys/{key.pk}/regenerate"))
    caller = problem(key_client(raw).get("/api/v1/me"))
    assert (target["status"], target["code"]) == (409, "target_key_revoked")
    assert (caller["status"], caller["code"]) == (401, "revoked_api_key")


def test_a_problem_names_its_page_and_the_request(alice_key):
    response = key_client(alice_key[1] + "x").get("/api/v1/me", HTTP_X_REQUEST_ID="trace-me-0001")
    body = problem(response)
    assert body["instance"] == "trace-me-0001" == response["X-Request-Id"]
    assert body["type"] == "http://testserver/api/problems/invalid_api_key"
    page = Client().get("/api/problems/invalid_api_key")
    assert page.status_code == 200
    assert page.json() == {"type": body["type"], "code": "invalid_api_key", "title": body["title"], "status": 401,
                           "description": PROBLEMS["invalid_api_key"].description}


def test_every_code_has_its_page_and_an_unknown_code_is_a_404_problem():
    client = Client()
    for code, row in PROBLEMS.items():
        assert client.get(f"/api/problems/{code}").json()["status"] == row.status
    assert problem(client.get("/api/problems/no_such_code"))["code"] == "not_found"


@pytest.mark.parametrize(("path", "headers", "code", "entry"), [
    ("/api/v1/me", {"HTTP_X_ORGANIZATION_ID": "0"}, "invalid_organization", {"header": "X-Organization-Id"}),
    ("/api/v1/api-keys?page=0", {}, "invalid_pagination", {"parameter": "page"}),
    ("/api/v1/api-keys?status=bogus", {}, "validation_error", {"parameter": "status"}),
    ("/api/v1/audit-events?action=bogus", {}, "validation_error", {"parameter": "action"}),
])
def test_a_bad_header_or_query_parameter_is_named_as_such(alice, path, headers, code, entry):
    body = problem(session_client(alice).get(path, **headers))
    assert body["code"] == code and len(body["errors"]) == 1
    assert {name: body["errors"][0][name] for name in entry} == entry and body["errors"][0]["detail"]


def test_body_errors_are_json_pointers(alice, alice_key):
    key, _ = alice_key
    response = session_client(alice).put(f"/api/v1/api-keys/{key.pk}/restrictions",
                                         {"allowed_ips": [{"a/b": 1}], "scope~s": []}, format="json")
    body = problem(response)
    assert body["code"] == "validation_error"
    assert {entry["pointer"] for entry in body["errors"]} == {"/scope~0s"}
    response = session_client(alice).put(f"/api/v1/api-keys/{key.pk}/restrictions",
                                         {"allowed_ips": [{"a": 1}]}, format="json")
    assert [entry["pointer"] for entry in problem(response)["errors"]] == ["/allowed_ips/0"]


def test_a_django_validation_error_from_a_service_is_a_problem_with_pointers():
    request = APIRequestFactory().post("/api/v1/api-keys")
    error = ValidationError({"name": ["Too long."], "__all__": ["Pick another name."]})
    response = exception_handler(error, {"request": request})
    body = json.loads(response.content)
    assert response["Content-Type"] == "application/problem+json"
    assert (response.status_code, body["status"], body["code"]) == (400, 400, "validation_error")
    assert body["errors"] == [
        {"pointer": "/name", "detail": "Too long."},
        {"pointer": "", "detail": "Pick another name."},
    ]


@pytest.mark.parametrize("debug", [False, True])
def test_middleware_level_refusals_are_problems_too(settings, debug):
    settings.DEBUG = debug
    client = Client()
    assert problem(client.post("/api/schema/"))["code"] == "method_not_allowed"
    assert problem(client.get("/api/v1/no-such-route"))["code"] == "not_found"
    assert problem(client.put("/api/v1/me"))["code"] in ("method_not_allowed", "missing_api_key")
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10
    too_large = client.post("/api/v1/leaks", "x" * 100, content_type="application/json")
    assert problem(too_large)["code"] == "request_too_large"


def test_pages_outside_the_api_keep_their_html(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    with django_db_blocker.unblock():
        return Client().get("/api/schema/?format=json").json()


def test_the_schema_is_valid_openapi_3_1(schema):
    assert schema["openapi"] == "3.1.0"
    validate(schema)


def test_each_status_documents_exactly_its_codes(schema):
    components = schema["components"]["schemas"]
    documented = {int(name.removeprefix("Problem")) for name in components if re.fullmatch(r"Problem\d{3}", name)}
    assert {400, 401, 403, 404, 409, 410, 429, 503} <= documented
    for status in documented:
        assert components[f"Problem{status}"]["properties"]["code"]["enum"] == codes_by_status()[status]
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            assert operation["summary"] and operation["tags"], (method, path)
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert set(response["content"]) == {"application/problem+json"}, (method, path, status)


def test_the_schema_says_what_the_server_does(schema):
    paths, components = schema["paths"], schema["components"]["schemas"]
    keyed = paths["/api/v1/api-keys"]["get"]
    assert {"401", "403", "404", "429", "503"} <= set(keyed["responses"])
    assert "Retry-After" in keyed["responses"]["429"]["headers"]
    assert paths["/api/v1/leaks"]["post"]["security"] == []
    assert "401" in paths["/api/v1/leaks"]["post"]["responses"]
    removed = paths["/api/v1/api-keys/{key_id}/limits"]["delete"]["responses"]["204"]
    assert "content" not in removed
    assert {"409"} <= set(paths["/api/v1/api-keys/{key_id}/regenerate"]["post"]["responses"])
    listed = {p["name"]: p["schema"] for p in paths["/api/v1/users/{user_id}/api-keys"]["get"]["parameters"]}
    assert listed["page"]["minimum"] == listed["page_size"]["minimum"] == listed["X-Organization-Id"]["minimum"] == 1
    days = next(p for p in paths["/api/v1/api-keys/{key_id}/usage"]["get"]["parameters"] if p["name"] == "days")
    assert (days["schema"]["minimum"], days["schema"]["maximum"]) == (1, 365)
    assert components["ApiKeyCreateInputRequest"]["additionalProperties"] is False
    assert {"type": "null"} in components["KeyLimitsOutput"]["properties"]["limits"]["oneOf"]
    assert {"type": "null"} in components["Me"]["properties"]["api_key"]["oneOf"]
    assert {"KeyMode", "Scope", "AuditAction"} <= set(components)
    assert not [name for name in components if "Mode" in name and name != "KeyMode"]
    with_bodies = [operation for item in paths.values() for operation in item.values() if "requestBody" in operation]
    assert len(with_bodies) >= 5
    assert all({"411", "413", "415"} <= set(operation["responses"]) for operation in with_bodies)


def test_writing_to_a_problem_page_is_a_405_problem_not_the_csrf_page():
    response = Client(enforce_csrf_checks=True).post("/api/problems/revoked_api_key")
    assert response.status_code == 405 and problem(response)["code"] == "method_not_allowed"


def test_a_bad_organization_header_is_not_repeated_in_the_answer(alice_key):
    pasted = alice_key[1]
    response = key_client(pasted).get("/api/v1/me", HTTP_X_ORGANIZATION_ID=pasted)
    assert response.status_code == 400 and problem(response)["code"] == "invalid_organization"
    assert pasted[:12] not in response.content.decode()
