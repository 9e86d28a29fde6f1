"""Mail to key owners goes through the worker: nothing is sent by a request or inside a
transaction, a mail the server refused is tried again, and none is sent twice."""
import json
from datetime import timedelta
from io import StringIO
from types import SimpleNamespace

import pytest
from django.core import mail
from django.core.mail import send_mail
from django.core.management import call_command
from django.db import DatabaseError, transaction
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from audit.models import AuditEvent
from keys.models import ApiKey, ExpiryNotice
from keys.services import api_key_revoke
from keys.tasks import expiry_notices_send
from tests.factories import UserFactory, make_key
from tests.keys.test_leak_response import SECRET, post_leaks, run
from tests.worker import OUTSIDE_TRANSACTIONS, SERVER_DOWN, OutsideTransactionsBackend, run_worker

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def mail_outside_transactions(settings):
    settings.EMAIL_BACKEND = OUTSIDE_TRANSACTIONS
    settings.LEAK_REPORT_SECRET = SECRET


def statuses() -> list[str]:
    return list(DBTaskResult.objects.order_by("enqueued_at").values_list("status", flat=True))


def test_the_check_itself_refuses_mail_sent_inside_a_transaction():
    with transaction.atomic(), pytest.raises(AssertionError, match="inside a database transaction"):
        send_mail("Hello", "Body", None, ["someone@example.com"])
    assert mail.outbox == []


def test_a_leak_report_sends_no_mail_and_the_worker_sends_it(alice, alice_key):
    key, raw = alice_key
    response = post_leaks([{"token": raw, "type": "keyhouse_api_key", "url": "https://gist.example/1"}])
    assert response.status_code == 200 and response.json()[0]["label"] == "true_positive"
    assert mail.outbox == []
    [queued] = DBTaskResult.objects.all()
    assert queued.status == "READY" and queued.task_path == "keys.tasks.leak_notice_send"
    assert raw not in json.dumps(queued.args_kwargs)

    run_worker()
    assert statuses() == ["SUCCESSFUL"]
    [sent] = mail.outbox
    assert sent.to == [alice.email] and key.prefix in sent.subject
    assert "https://gist.example/1" in sent.body and "has been revoked" in sent.body
    assert raw not in sent.subject + sent.body


def test_a_key_in_the_reported_address_is_masked_in_the_mail_and_the_audit_trail(alice, alice_key):
    key, raw = alice_key
    post_leaks([{"token": raw, "url": f"https://paste.example/raw?api_key={raw}"}])
    assert raw not in json.dumps(DBTaskResult.objects.get().args_kwargs)
    run_worker()
    [sent] = mail.outbox
    assert f"api_key={raw[:12]}…" in sent.body and raw not in sent.body
    assert raw not in AuditEvent.objects.get(action="security.key_leaked").changes["url"]


def test_a_report_whose_mail_cannot_be_queued_stops_nothing_so_the_scanner_can_send_it_again(alice, alice_key,
                                                                                             monkeypatch):
    key, raw = alice_key

    def queue_unwritable(**kwargs):
        raise DatabaseError("database or disk is full")

    monkeypatch.setattr("keys.leaks.leak_notice_send", SimpleNamespace(enqueue=queue_unwritable))
    with pytest.raises(DatabaseError):
        post_leaks([{"token": raw}])
    assert ApiKey.objects.get(pk=key.pk).is_active and not AuditEvent.objects.filter(action="security.key_leaked")
    monkeypatch.undo()
    assert post_leaks([{"token": raw}]).json()[0]["label"] == "true_positive"
    run_worker()
    assert [m.to for m in mail.outbox] == [[alice.email]]


def test_an_owner_without_an_address_gets_no_task(alice, alice_key):
    alice.email = ""
    alice.save()
    assert post_leaks([{"token": alice_key[1]}]).json()[0]["label"] == "true_positive"
    assert DBTaskResult.objects.count() == 0


def test_a_leak_mail_the_server_refused_is_tried_again_later(alice, alice_key, settings):
    settings.EMAIL_BACKEND = SERVER_DOWN
    post_leaks([{"token": alice_key[1], "url": "https://gist.example/1"}])
    run_worker()
    assert statuses() == ["FAILED", "READY"]
    retry = DBTaskResult.objects.get(status="READY")
    assert timezone.now() + timedelta(seconds=30) < retry.run_after < timezone.now() + timedelta(minutes=2)

    settings.EMAIL_BACKEND = OUTSIDE_TRANSACTIONS
    run_worker()
    assert mail.outbox == []  # not due yet
    DBTaskResult.objects.filter(pk=retry.pk).update(run_after=timezone.now())
    run_worker()
    assert statuses() == ["FAILED", "SUCCESSFUL"]
    assert [m.to for m in mail.outbox] == [[alice.email]]


@pytest.fixture
def expiring(alice, bob):
    bob.email = ""
    bob.save()
    soon, _ = make_key(alice, name="Soon", expires_at=timezone.now() + timedelta(days=3))
    make_key(alice, name="Later", expires_at=timezone.now() + timedelta(days=30))
    make_key(bob, name="Bob's", expires_at=timezone.now() + timedelta(days=2))
    return soon


def test_expiry_notices_are_sent_by_the_worker_once_per_key_and_expiry(alice, expiring):
    out, err = run("notify_expiring_keys", "--within", "7d")
    assert "1 owner(s) to email, queued for the worker; 0 notice(s) not sent yet" in out
    assert "1 key(s) whose owner has no email." in out and "has no email" in err
    assert mail.outbox == [] and statuses() == ["READY"]

    # Cron runs again before the worker: the notice is queued again, and still sent once.
    out, _ = run("notify_expiring_keys", "--within", "7d")
    assert "0 owner(s) to email, queued for the worker; 1 notice(s) not sent yet, queued again" in out
    run_worker()
    assert statuses() == ["SUCCESSFUL", "SUCCESSFUL"]
    [sent] = mail.outbox
    assert sent.to == [alice.email] and "Soon" in sent.subject and "stops working at" in sent.body

    out, _ = run("notify_expiring_keys", "--within", "7d")
    assert "1 key(s) already notified" in out and DBTaskResult.objects.count() == 2
    # A new expiry is a new notice.
    ApiKey.objects.filter(pk=expiring.pk).update(expires_at=timezone.now() + timedelta(days=5))
    run("notify_expiring_keys")
    run_worker()
    assert len(mail.outbox) == 2


def test_an_expiry_notice_the_server_refused_is_sent_by_a_later_attempt(alice, expiring, settings):
    settings.EMAIL_BACKEND = SERVER_DOWN
    run("notify_expiring_keys")
    run_worker()
    assert statuses() == ["FAILED", "READY"]  # and a retry, due in a minute
    notice = ExpiryNotice.objects.get()
    assert notice.sent_at is None and notice.claimed_until is None

    settings.EMAIL_BACKEND = OUTSIDE_TRANSACTIONS
    run("notify_expiring_keys")  # the next cron run
    run_worker()
    assert len(mail.outbox) == 1 and ExpiryNotice.objects.get().sent_at is not None
    DBTaskResult.objects.filter(status="READY").update(run_after=timezone.now())
    run_worker()  # the retry finds nothing left to send
    assert len(mail.outbox) == 1


def test_a_notice_another_worker_is_sending_is_left_to_it_until_its_claim_lapses(alice, expiring):
    run("notify_expiring_keys")
    ExpiryNotice.objects.update(claimed_until=timezone.now() + timedelta(minutes=10))
    run_worker()
    assert mail.outbox == []
    ExpiryNotice.objects.update(claimed_until=timezone.now() - timedelta(seconds=1))  # that worker died
    run("notify_expiring_keys")
    run_worker()
    assert len(mail.outbox) == 1


class AnotherWorkerMeanwhile(OutsideTransactionsBackend):
    """While the first mail is being sent, a second worker runs the same job."""

    started = []

    def send_messages(self, messages):
        if not self.started:
            self.started.append(True)
            expiry_notices_send.call()
        return super().send_messages(messages)


def test_two_workers_at_once_send_a_notice_once(alice, expiring, settings):
    settings.EMAIL_BACKEND = "tests.keys.test_tasks.AnotherWorkerMeanwhile"
    AnotherWorkerMeanwhile.started.clear()
    run("notify_expiring_keys")
    run_worker()
    assert AnotherWorkerMeanwhile.started and len(mail.outbox) == 1


def test_a_key_revoked_before_the_worker_runs_gets_no_expiry_mail(alice, expiring):
    run("notify_expiring_keys")
    api_key_revoke(api_key=expiring, actor_user=alice)
    run_worker()
    assert statuses() == ["SUCCESSFUL"] and mail.outbox == []


def test_only_superusers_see_the_task_queue_in_admin(admin):
    """Its rows name keys and leak addresses of every company."""
    client = Client()
    client.force_login(admin)
    assert client.get("/admin/django_tasks_database/dbtaskresult/").status_code == 403
    client.force_login(UserFactory(username="root", is_superuser=True, is_staff=True))
    assert client.get("/admin/django_tasks_database/dbtaskresult/").status_code == 200


def test_a_leak_notice_whose_worker_was_killed_is_sent_after_the_requeue(alice, alice_key):
    """A worker killed mid-task leaves it RUNNING, and no worker takes a running task: the owner
    of a leaked key would never hear of it. The periodic requeue puts it back, once it is old."""
    key, raw = alice_key
    post_leaks([{"token": raw, "type": "keyhouse_api_key", "url": "https://gist.example/1"}])
    DBTaskResult.objects.update(status="RUNNING", started_at=timezone.now() - timedelta(minutes=10),
                                worker_ids=["killed-worker"])
    out = StringIO()
    call_command("requeue_abandoned_tasks", stdout=out)  # 10 minutes: it may still be running
    assert statuses() == ["RUNNING"] and "0 abandoned task(s)" in out.getvalue()
    DBTaskResult.objects.update(started_at=timezone.now() - timedelta(minutes=16))
    call_command("requeue_abandoned_tasks", stdout=out)
    assert "keys.tasks.leak_notice_send" in out.getvalue() and "by killed-worker: queued again" in out.getvalue()
    assert statuses() == ["READY"]
    run_worker()
    assert statuses() == ["SUCCESSFUL"]
    assert [m.to for m in mail.outbox] == [[alice.email]]
