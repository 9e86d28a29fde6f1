"""Deleting what a key stands on refuses the key, on a real gunicorn with several workers that
each answer the key from their own copy: a delete of the key itself, its owner, the owner's
membership or the whole company, made by an operator in `manage.py shell` (another process,
like admin or a cron job). With Redis every worker is told at once: no request sent after the
delete returned is admitted. With local memory (the run's CACHE_URL unset) each worker's copy
lives API_KEY_LOCAL_SECONDS, so the key is refused within a second.

This runs on the run's own stack: SQLite and local memory in `make test`, PostgreSQL and Redis
in CI's second pass."""
import os
import threading
import time

import pytest

from tests.live import live_gunicorn, request

pytestmark = pytest.mark.django_db(transaction=False)
WORKERS = 3
DELETES = {
    "key": "from keys.models import ApiKey; ApiKey.objects.filter(owner__username='{user}').delete()",
    "user": "from django.contrib.auth.models import User; User.objects.get(username='{user}').delete()",
    "membership": "from accounts.models import Membership; Membership.objects.get(user__username='{user}').delete()",
    "company": "from accounts.models import Company; Company.objects.get(name='{company}').delete()",
}
SHARED = os.environ.get("CACHE_URL", "").startswith("redis")
# How late an admission may come after the delete returned: none with Redis, else within a second.
ALLOWED_LATENESS = 0.0 if SHARED else 1.0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with live_gunicorn(tmp_path_factory.mktemp("deletes"), workers=WORKERS) as live:
        yield live


@pytest.mark.parametrize("what", list(DELETES))
def test_a_delete_refuses_the_key_on_every_worker(server, what):
    user, company = f"del-{what}", f"Deleted {what}"
    raw = server.member_key(user, company, "member")
    results, done, lock = [], threading.Event(), threading.Lock()

    def hammer():
        while not done.is_set():
            sent = time.monotonic()
            status = request(server.port, "GET", "/api/v1/me", raw)[0]
            with lock:
                results.append((sent, status))

    threads = [threading.Thread(target=hammer) for _ in range(6)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)  # every worker has answered the key, from its own copy
        deleting = time.monotonic()
        server.manage("shell", "-c", DELETES[what].format(user=user, company=company))
        deleted_at = time.monotonic()
        # Enough requests past the allowed lateness to mean something, however busy the machine.
        deadline = deleted_at + 30
        while time.monotonic() < deadline:
            with lock:
                if sum(sent > deleted_at + ALLOWED_LATENESS for sent, _ in results) > 10:
                    break
            time.sleep(0.1)
    finally:
        done.set()
        for thread in threads:
            thread.join(timeout=30)
    before = {status for sent, status in results if sent < deleting}
    late = [sent - deleted_at for sent, status in results if status == 200 and sent > deleted_at]
    after = [status for sent, status in results if sent > deleted_at + ALLOWED_LATENESS]
    assert before == {200}
    assert not [lateness for lateness in late if lateness > ALLOWED_LATENESS], late
    assert len(after) > 10 and set(after) == {401}, {s: after.count(s) for s in set(after)}
