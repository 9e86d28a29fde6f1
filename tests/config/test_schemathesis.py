"""Schemathesis, with every check it has, chains calls of the schema as /api/schema/ serves it
(links it infers: a key created, then read, renamed, limited, regenerated, revoked) and finds
nothing. Bounded (CONTRACT_STATEFUL_EXAMPLES) so it stays inside a minute in `make test`; the
long per-operation fuzzing is part 1 of `make verify` (tests/verify/test_fuzz.py)."""
import os
from pathlib import Path

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.test import override_settings
from hypothesis import HealthCheck, Phase, settings
from schemathesis.config import SchemathesisConfig

from accounts.models import Role
from tests.factories import CompanyFactory, make_key, member

pytestmark = pytest.mark.django_db
CONFIG = Path(__file__).resolve().parents[2] / "schemathesis.toml"
EXAMPLES = int(os.environ.get("CONTRACT_STATEFUL_EXAMPLES", "25"))


@override_settings(LEAK_REPORT_SECRET="contract-secret")
def test_stateful_calls_find_nothing(wsgi_in_test_transaction):
    acme = CompanyFactory(name="Acme")
    owner = member(acme, Role.OWNER, username="olivia")
    _, raw = make_key(owner, name="schemathesis")
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application(),
                                            config=SchemathesisConfig.from_path(CONFIG))

    @schema.auth()
    class OwnersKey:
        """The key as a user supplies it, so checks tell it apart from generated credentials."""

        def get(self, case, context):
            return raw

        def set(self, case, data, context):
            case.headers = {**(case.headers or {}), "API-Key": data}

    AsTheOwnersKey = schema.as_state_machine()
    AsTheOwnersKey.run(settings=settings(
        max_examples=EXAMPLES, stateful_step_count=6, deadline=None, database=None,
        phases=[Phase.generate], suppress_health_check=list(HealthCheck)))
