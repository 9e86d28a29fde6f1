"""A client that openapi-python-client generates from /api/schema/ runs a key's whole life, and
every answer it gets, errors included, is typed by that client and valid against the schema.

The client is generated into a temporary directory on every run (never committed), so a
schema that stops describing the server fails here, the way it would fail a customer.
"""
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from django.core.wsgi import get_wsgi_application
from django.test import Client
from jsonschema import Draft202012Validator

from accounts.models import Role
from tests.factories import CompanyFactory, make_key, member

pytestmark = pytest.mark.django_db
GENERATOR = Path(sys.executable).parent / "openapi-python-client"


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    with django_db_blocker.unblock():
        return Client().get("/api/schema/?format=json").json()


@pytest.fixture(scope="module")
def generated(schema, tmp_path_factory):
    """The package openapi-python-client writes for the schema, imported."""
    where = tmp_path_factory.mktemp("client")
    (where / "schema.json").write_text(json.dumps(schema))
    (where / "config.yaml").write_text("post_hooks: []\n")  # no formatter run: the code only has to import
    subprocess.run([str(GENERATOR), "generate", "--path", str(where / "schema.json"), "--meta", "none",
                    "--config", str(where / "config.yaml"), "--output-path", str(where / "keyhouse_client")],
                   check=True, capture_output=True, text=True)
    sys.path.insert(0, str(where))
    yield lambda module: importlib.import_module(f"keyhouse_client.{module}")
    sys.path.remove(str(where))
    for name in [name for name in sys.modules if name.startswith("keyhouse_client")]:
        del sys.modules[name]


class SchemaCheck:
    """Validates every response against the schema's response for its operation and status."""

    def __init__(self, schema):
        self.schema = schema
        self.templates = sorted(((re.compile("^" + re.sub(r"\{\w+\}", "[^/]+", path) + "$"), path)
                                 for path in schema["paths"]), key=lambda pair: pair[1].count("{"))
        self.seen = []

    def __call__(self, response: httpx.Response):
        response.read()
        path = next(template for pattern, template in self.templates if pattern.match(response.request.url.path))
        documented = self.schema["paths"][path][response.request.method.lower()]["responses"]
        status = str(response.status_code)
        assert status in documented, (response.request.method, path, status, response.text[:300])
        content = documented[status].get("content")
        if content is None:
            assert response.content == b"", (path, status)
        else:
            media_type = response.headers["Content-Type"].split(";")[0]
            assert media_type in content, (path, status, media_type)
            validator = Draft202012Validator({**content[media_type]["schema"],
                                              "components": self.schema["components"]})
            errors = [error.message for error in validator.iter_errors(response.json())]
            assert not errors, (response.request.method, path, status, errors, response.text[:500])
        for header in documented[status].get("headers", {}):
            assert header in response.headers, (path, status, header)
        self.seen.append((response.request.method, path, response.status_code))


def typed(response, model, status: int):
    """The answer, parsed by the generated client into the model its schema names."""
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert isinstance(response.parsed, model), (type(response.parsed), response.content[:300])
    return response.parsed


def test_a_generated_client_runs_a_keys_whole_life(generated, schema, wsgi_in_test_transaction):
    acme = CompanyFactory(name="Acme")
    owner = member(acme, Role.OWNER, username="olivia")
    _, owner_raw = make_key(owner, name="owner's script")
    check = SchemaCheck(schema)
    app = get_wsgi_application()

    def client(raw):
        return generated("client").AuthenticatedClient(
            base_url="http://testserver", token=raw, raise_on_unexpected_status=True,
            httpx_args={"transport": httpx.WSGITransport(app=app), "event_hooks": {"response": [check]}})

    api, models = (lambda name: generated(f"api.{name}")), generated("models")
    olivia = client(owner_raw)

    me = typed(api("me.me").sync_detailed(client=olivia), models.Me, 200)
    assert me.user.username == "olivia" and me.api_key.name == "owner's script"

    made = [typed(api("api_keys.api_keys_create").sync_detailed(
        client=olivia, body=models.ApiKeyCreateInputRequest(name=f"worker {n}", mode=models.KeyMode.TEST)),
        models.ApiKeyCreated, 201) for n in range(3)]
    pages = [typed(api("api_keys.api_keys_list").sync_detailed(client=olivia, page=page, page_size=2),
                   models.ApiKeyPage, 200) for page in (1, 2)]
    assert (pages[0].total, len(pages[0].items) + len(pages[1].items)) == (4, 4)
    user_keys = api("users.user_api_keys_list").sync_detailed(owner.pk, client=olivia, page=2, page_size=3)
    assert len(typed(user_keys, models.UserApiKeyPage, 200).items) == 1

    worker = made[0]
    renamed = api("api_keys.api_key_update").sync_detailed(
        worker.id, client=olivia, body=models.PatchedApiKeyUpdateInputRequest(name="renamed worker"))
    assert typed(renamed, models.ApiKeyOutput, 200).name == "renamed worker"

    limits = api("api_keys.api_key_limits_set").sync_detailed(
        worker.id, client=olivia, body=models.KeyLimitsInputRequest(request_limit=2))
    assert typed(limits, models.KeyLimitsOutput, 200).limits.request_limit == 2
    limited = client(worker.key)
    answers = [api("demo.demo_echo").sync_detailed(client=limited) for _ in range(3)]  # product traffic
    typed(answers[0], models.DemoEcho, 200)
    refused = typed(answers[2], models.Problem429, 429)
    assert refused.code == models.Problem429Code.REQUEST_LIMIT_EXCEEDED and int(answers[2].headers["Retry-After"]) > 0
    unlimited = api("api_keys.api_key_limits_get").sync_detailed(made[1].id, client=olivia)
    assert typed(unlimited, models.KeyLimitsOutput, 200).limits is None

    for module, model in [("api_key_usage", models.KeyUsage), ("api_key_usage_by_tier", models.KeyUsageByTier),
                          ("api_key_usage_errors", models.KeyUsageErrors),
                          ("api_key_usage_requests", models.KeyUsageRequests),
                          ("api_key_usage_timeseries", models.KeyUsageTimeseries)]:
        typed(api(f"api_keys.{module}").sync_detailed(worker.id, client=olivia, days=7), model, 200)
    typed(api("usage.company_usage").sync_detailed(client=olivia, days=7), models.CompanyUsage, 200)
    typed(api("usage.company_usage_timeseries").sync_detailed(client=olivia, days=7), models.CompanyTimeseries, 200)
    bad_days = typed(api("usage.company_usage").sync_detailed(client=olivia, days=0), models.Problem400, 400)
    assert bad_days.code == models.Problem400Code.INVALID_DAYS and bad_days.errors[0].parameter == "days"

    regenerated = api("api_keys.api_key_regenerate").sync_detailed(
        made[1].id, client=olivia, body=models.ApiKeyRegenerateInputRequest(grace_period_seconds=0))
    assert typed(regenerated, models.ApiKeyCreated, 200).key != made[1].key
    gone = typed(api("me.me").sync_detailed(client=client(made[1].key)), models.Problem401, 401)
    assert gone.code == models.Problem401Code.INVALID_API_KEY

    revoked = api("api_keys.api_key_revoke").sync_detailed(made[2].id, client=olivia)
    assert (revoked.status_code, revoked.content) == (204, b"")
    again = api("api_keys.api_key_regenerate").sync_detailed(
        made[2].id, client=olivia, body=models.ApiKeyRegenerateInputRequest())
    assert typed(again, models.Problem409, 409).code == models.Problem409Code.TARGET_KEY_REVOKED
    caller_revoked = typed(api("me.me").sync_detailed(client=client(made[2].key)), models.Problem401, 401)
    assert caller_revoked.code == models.Problem401Code.REVOKED_API_KEY
    removed = api("api_keys.api_key_limits_delete").sync_detailed(worker.id, client=olivia)
    assert (removed.status_code, removed.content) == (204, b"")

    audit = [typed(api("audit_events.audit_events_list").sync_detailed(client=olivia, page=page, page_size=3),
                   models.AuditEventPage, 200) for page in (1, 2)]
    assert audit[0].total >= 6 and len(audit[1].items) == 3
    assert {event.action for page in audit for event in page.items} <= set(models.AuditAction)

    assert len(check.seen) >= 25 and {status for *_, status in check.seen} >= {200, 201, 204, 400, 401, 409, 429}
