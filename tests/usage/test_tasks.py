"""Pruning the request log in the worker: `prune_usage --in-background` returns at once and
the worker deletes the old rows, keeping the rollups."""
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from tests.clients import key_client
from tests.worker import run_worker
from usage.models import DailyRollup, RequestLog

pytestmark = pytest.mark.django_db(transaction=True)


def test_prune_in_background_deletes_old_rows_in_the_worker(alice_key):
    client = key_client(alice_key[1])
    for _ in range(5):
        client.get("/api/v1/me")
    RequestLog.objects.filter(pk__in=RequestLog.objects.order_by("id").values("id")[:3]).update(
        created_at=timezone.now() - timedelta(days=100))
    out = StringIO()
    call_command("prune_usage", "--older-than", "90d", "--batch-size", "2", "--in-background", stdout=out)
    assert "Queued for the worker" in out.getvalue() and RequestLog.objects.count() == 5

    run_worker()
    [task] = DBTaskResult.objects.all()
    assert (task.status, task.return_value) == ("SUCCESSFUL", 3)
    assert RequestLog.objects.count() == 2
    assert sum(DailyRollup.objects.values_list("requests", flat=True)) == 5
