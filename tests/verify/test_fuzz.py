"""Part 1: schemathesis drives every operation of our own OpenAPI schema, as a real key and as a
signed-in person, with valid and with schema-violating data.

Each response must: not be a 5xx; match the schema for its status; carry the one error shape
when it is a 4xx; refuse data the schema forbids (negative_data_rejection); and refuse the same
request without credentials or with bad ones (ignored_auth). Examples per operation are bounded
(VERIFY_FUZZ_EXAMPLES) and the seed is fixed (VERIFY_SEED), so a failure reproduces.
"""
import json
import os
from functools import lru_cache
from urllib.parse import urlencode

import pytest
import schemathesis
from django.test import override_settings
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core import NOT_SET

from accounts.models import Role
from tests.clients import PROBLEM_MEMBERS
from tests.factories import CompanyFactory, make_key, member

pytestmark = [pytest.mark.verify, pytest.mark.django_db]
PART = "1 fuzzing"
SEED = int(os.environ.get("VERIFY_SEED", "20261107"))
EXAMPLES = int(os.environ.get("VERIFY_FUZZ_EXAMPLES", "30"))


@lru_cache
def api_schema():
    """The schema exactly as /api/schema/ serves it, loaded through the WSGI app."""
    from django.core.wsgi import get_wsgi_application

    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


def operations() -> list[str]:
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    return [f"{method.upper()} {path}" for path, item in paths.items() for method in item
            if method in ("get", "post", "put", "patch", "delete")]


@schemathesis.check
def error_shape(ctx, response, case):
    """Every 4xx and 5xx is an RFC 9457 problem with a code."""
    if response.status_code >= 400:
        assert response.headers.get("content-type", [""])[0] == "application/problem+json", response.headers
        body = json.loads(response.content)
        assert set(body) >= PROBLEM_MEMBERS and body["status"] == response.status_code, body
        assert isinstance(body["code"], str) and body["code"], body
    return None


CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.negative_data_rejection,
    schemathesis.checks.ignored_auth,
    schemathesis.checks.use_after_free,
    error_shape,
]


def anonymous_call(case):
    """The same request with no credentials at all, from a client that has never signed in."""
    from django.test import Client

    body = "" if case.body is NOT_SET else json.dumps(case.body)
    headers = {k: str(v) for k, v in (case.headers or {}).items() if k.lower() not in ("cookie", "x-csrftoken")}
    return Client().generic(case.method, case.formatted_path, body, content_type="application/json",
                            QUERY_STRING=urlencode(case.query or {}, doseq=True), headers=headers)


@pytest.fixture
def world(client):
    acme = CompanyFactory(name="Acme")
    owner = member(acme, Role.OWNER, username="olivia")
    alice = member(acme, Role.MEMBER, username="alice")
    _, owner_raw = make_key(owner, name="fuzzer")
    target, _ = make_key(alice, name="target")
    client.force_login(owner)
    client.get("/settings/general/")  # sets the CSRF cookie
    return {"key": owner_raw, "target": target, "alice": alice,
            "cookies": {"sessionid": client.cookies["sessionid"].value,
                        "csrftoken": client.cookies["csrftoken"].value}}


@pytest.mark.parametrize("auth", ["key", "session"])
@pytest.mark.parametrize("operation", operations())
@override_settings(LEAK_REPORT_SECRET="fuzz-secret", DEBUG_PROPAGATE_EXCEPTIONS=False)
def test_operation(operation, auth, world, wsgi_in_test_transaction, figures, evidence):
    method, path = operation.split(" ", 1)
    api_operation = api_schema()[path][method]
    real_ids = {name: value for name, value in
                (("key_id", str(world["target"].pk)), ("user_id", world["alice"].pk)) if "{" + name + "}" in path}
    strategies = [api_operation.as_strategy(mode) for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
    if real_ids:  # half the examples act on real objects, the rest on whatever ids are generated
        strategies += [api_operation.as_strategy(mode, path_parameters=real_ids)
                       for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
    if auth == "key":
        credentials = {"headers": {"API-Key": world["key"]}}
    else:
        credentials = {"headers": {"X-CSRFToken": world["cookies"]["csrftoken"]}, "cookies": world["cookies"]}

    @seed(SEED)
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(case=st.one_of(strategies))
    def run(case):
        checks = CHECKS if auth == "key" else [c for c in CHECKS if c is not schemathesis.checks.ignored_auth]
        response = case.call_and_validate(checks=checks, **credentials)
        figures.sent(PART)
        if auth == "session" and response.status_code < 300:
            # schemathesis counts a session cookie as generated auth; probe without it ourselves.
            anonymous = anonymous_call(case)
            figures.sent(PART)
            assert anonymous.status_code == 401, (operation, anonymous.status_code, anonymous.text[:300])
        text = "\n".join(f"{k}: {v}" for k, v in response.headers.items()) + "\n" + response.text
        created = ""
        if response.status_code in (200, 201):
            body = json.loads(response.content or b"null")
            created = body.get("key", "") if isinstance(body, dict) and isinstance(body.get("key"), str) else ""
        evidence.response(f"fuzz {operation} -> {response.status_code}", text, created)

    run()
    figures.fact(PART, "operations", len(operations()))
    figures.fact(PART, "seed", SEED)
    figures.fact(PART, "examples/operation", EXAMPLES)
