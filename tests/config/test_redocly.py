"""Redocly's linter, with its recommended rules, finds no error in the schema as served. Its CLI
comes from npm (package.json, package-lock.json) into node_modules/ by `make contract-tools`."""
import json
import os
import subprocess
from pathlib import Path

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
REDOCLY = ROOT / "node_modules" / ".bin" / "redocly"


def test_redocly_recommended_rules_find_no_error(tmp_path):
    assert REDOCLY.exists(), "Redocly's CLI is missing: run `make contract-tools` (needs npm)."
    schema = tmp_path / "openapi.json"
    schema.write_text(json.dumps(Client().get("/api/schema/?format=json").json()))
    # No telemetry and no update check: CI has no internet, and the run must not depend on it.
    env = {**os.environ, "REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"}
    result = subprocess.run([str(REDOCLY), "lint", str(schema), "--extends", "recommended", "--format", "stylish"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
