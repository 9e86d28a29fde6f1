"""`make verify`: figures per part, the evidence the secrets scan reads, and the summary table.

Every part records what it sent and what it saw in FIGURES; every response body, rendered
page, log line and table dump goes to EVIDENCE, and every raw key that was created to
SECRETS, so that test_secrets (which runs last) can show no key was ever written anywhere
but the one response that created it. The table printed at the end is also written to
var/verify-figures.json, where docs/reliability.md takes its numbers from.
"""
import contextlib
import json
import logging
import time
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
PARTS = {
    "test_fuzz": "1 fuzzing", "test_isolation": "2 isolation", "test_concurrency": "3 concurrency",
    "test_load": "4 load", "test_faults": "5 faults", "test_bad_input": "6 bad input", "test_secrets": "7 secrets",
    "test_slow_clients": "8 slow clients", "test_two_nodes": "9 two nodes", "test_poison": "10 poison",
    "test_metrics": "11 metrics", "test_tls_proxy": "12 tls proxy",
}


class Figures:
    def __init__(self):
        self.cases = defaultdict(int)
        self.failures = defaultdict(int)
        self.seconds = defaultdict(float)
        self.requests = defaultdict(int)
        self.facts = defaultdict(dict)  # part -> {label: value}

    def sent(self, part: str, count: int = 1) -> None:
        self.requests[part] += count

    def fact(self, part: str, label: str, value) -> None:
        self.facts[part][label] = value


class Evidence:
    """Texts to scan for secrets, each with the raw key its response legitimately carries."""

    def __init__(self):
        self.secrets: set[str] = set()
        self.responses: list[tuple[str, str, str]] = []  # (where, text, secret it may carry or "")
        self.texts: list[tuple[str, str]] = []  # logs, table dumps, pages: never a secret

    def secret(self, raw: str) -> None:
        self.secrets.add(raw)

    def response(self, where: str, text: str, created: str = "") -> None:
        if created:
            self.secrets.add(created)
        self.responses.append((where, text, created))

    def text(self, where: str, text: str) -> None:
        self.texts.append((where, text))


FIGURES = Figures()
EVIDENCE = Evidence()


def part_of(nodeid: str) -> str | None:
    module = nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")
    return PARTS.get(module)


@pytest.fixture(scope="session")
def figures() -> Figures:
    return FIGURES


@pytest.fixture(scope="session")
def evidence() -> Evidence:
    return EVIDENCE


@pytest.fixture(scope="session")
def stacks():
    """Each live stack's (DATABASE_URL, CACHE_URL); PostgreSQL and Redis are started once for
    the run when the machine has none answering."""
    from tests.verify.live import shared_services

    with shared_services() as postgres_and_redis:
        yield {"postgres+redis": postgres_and_redis, "sqlite+local-memory": ("", "")}


class _Capture(logging.Handler):
    """Every log line of the run, formatted with its traceback, for the secrets scan."""

    def emit(self, record):
        with contextlib.suppress(Exception):  # a log line we cannot format is still no reason to fail a request
            EVIDENCE.text(f"log {record.name}", self.format(record))


_capture = _Capture(level=logging.DEBUG)
_capture.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))


def _created_key(content: bytes) -> str:
    try:
        body = json.loads(content)
    except ValueError:
        return ""
    return body.get("key", "") if isinstance(body, dict) and isinstance(body.get("key"), str) else ""


@pytest.fixture(autouse=True, scope="session")
def _record_everything():
    """Record each in-process response (API bodies and rendered pages) and every log line."""
    from django.test import Client

    original = Client.request

    def request(self, **kwargs):
        response = original(self, **kwargs)
        content = b"".join(response.streaming_content) if response.streaming else response.content
        if response.streaming:
            response.streaming_content = [content]
        headers = "\n".join(f"{k}: {v}" for k, v in response.items())
        created = _created_key(content) if response.status_code in (200, 201) else ""
        if response.status_code == 200 and kwargs.get("REQUEST_METHOD") == "POST" and not created:
            # A page that shows a new key once (the dashboard's create and regenerate).
            from core.crypto import KEY_PATTERN

            created = next(iter(KEY_PATTERN.findall(content.decode("utf-8", "replace"))), "")
        where = f"{kwargs.get('REQUEST_METHOD')} {kwargs.get('PATH_INFO')} -> {response.status_code}"
        EVIDENCE.response(where, headers + "\n" + content.decode("utf-8", "replace"), created)
        return response

    Client.request = request
    # Every key generated in this process is a secret to look for, however it was made.
    from core import crypto

    generate = crypto.generate_key

    def generate_key(mode):
        raw = generate(mode)
        EVIDENCE.secret(raw)
        return raw

    crypto.generate_key = generate_key
    root = logging.getLogger()
    root.addHandler(_capture)
    yield
    root.removeHandler(_capture)
    Client.request = original
    crypto.generate_key = generate


def pytest_collection_modifyitems(items):
    """The secrets scan reads what every other part recorded, so it runs last, whatever order
    pytest's grouping of module-scoped servers would give."""
    items.sort(key=lambda item: item.nodeid.startswith("tests/verify/test_secrets.py::test_no_key_anywhere"))


def pytest_runtest_logreport(report):
    part = part_of(report.nodeid)
    if part is None:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        FIGURES.cases[part] += 1
        if report.outcome == "failed":
            FIGURES.failures[part] += 1
    FIGURES.seconds[part] += report.duration


def pytest_terminal_summary(terminalreporter):
    if not FIGURES.cases:
        return
    write = terminalreporter.write_line
    rows = []
    for part in PARTS.values():
        facts = "; ".join(f"{k}: {v}" for k, v in FIGURES.facts[part].items())
        rows.append((part, FIGURES.cases[part], FIGURES.failures[part], FIGURES.requests[part],
                     round(FIGURES.seconds[part]), facts))
    terminalreporter.section("make verify: summary")
    header = ("part", "cases", "failed", "requests", "seconds", "figures")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(5)]
    line = lambda r: " | ".join(str(v).ljust(w) for v, w in zip(r[:5], widths, strict=True)) + " | " + str(r[5])  # noqa: E731
    write(line(header))
    write("-+-".join("-" * w for w in widths) + "-+-" + "-" * 20)
    for row in rows:
        write(line(row))
    total = (sum(r[1] for r in rows), sum(r[2] for r in rows), sum(r[3] for r in rows))
    write(f"total: {total[0]} cases, {total[1]} failed, {total[2]} requests")
    out = ROOT / "var" / "verify-figures.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                               "parts": [dict(zip(header, r, strict=True)) for r in rows]}, indent=2))
