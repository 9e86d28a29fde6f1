"""The request log cannot be poisoned: a bad record, a deleted key, user or company, a dying
writer thread or a full backlog never stop the log of everyone else's requests."""
import logging
import threading
import time
import zoneinfo
from datetime import timedelta

import pytest
from django.db import OperationalError, connection, transaction
from django.utils import timezone
from prometheus_client import REGISTRY

from keys.models import ApiKey
from tests.clients import key_client
from tests.factories import make_key, member
from usage import recorder as recorder_module
from usage.log_writes import LogRecord
from usage.models import DailyRollup, RequestLog, UsageRollup
from usage.recorder import Recorder

pytestmark = pytest.mark.django_db


def record(key, **fields) -> LogRecord:
    values = dict(api_key_id=key.pk, company_id=key.company_id, user_id=key.owner_id, created_at=timezone.now(),
                  method="GET", path="/api/v1/me", route="api/v1/me", status_code=200, error_code="",
                  latency_ms=3, client_ip="203.0.113.9", user_agent="script", domain="", tier="free",
                  cost_microcents=0, request_id="")
    return LogRecord(**{**values, **fields})


@pytest.fixture
def batching(monkeypatch):
    """A recorder that batches as in production, flushed by the test instead of its thread."""
    monkeypatch.setattr(Recorder, "_ensure_thread", lambda self: None)
    return Recorder(interval=60)


@pytest.fixture
def other_key(outsider_admin, other_company):
    return make_key(outsider_admin, other_company)[0]


def test_a_row_the_database_refuses_is_set_aside_and_the_rest_is_written(batching, alice_key, other_key, caplog):
    key = alice_key[0]
    good = [record(other_key, user_agent=f"other {i}") for i in range(40)]
    # The column's CHECK (status_code >= 0) refuses it on SQLite and PostgreSQL alike.
    for item in good[:20] + [record(key, status_code=-1)] + good[20:]:
        batching.add(item)
    with caplog.at_level(logging.ERROR, logger="usage.recorder"):
        assert batching.flush() == 40
    assert RequestLog.objects.filter(api_key_id=other_key.pk).count() == 40
    assert not RequestLog.objects.filter(api_key_id=key.pk).exists()
    assert sum(UsageRollup.objects.filter(api_key_id=other_key.pk).values_list("requests", flat=True)) == 40
    assert batching.stats["set_aside"] == 1 and batching.stats["written"] == 40
    assert "Set aside a usage record" in caplog.text and "IntegrityError" in caplog.text
    assert batching.flush() == 0, "a set-aside row is not retried forever"


def test_records_outlive_their_key_and_user_and_a_deleted_company_stops_nobody(batching, alice, alice_key, other_key,
                                                                               company):
    key = alice_key[0]
    batching.add(record(key, user_agent="before"))
    alice.delete()  # takes her key with it
    batching.add(record(key, user_agent="after"))
    batching.add(record(other_key))
    assert batching.flush() == 3
    assert RequestLog.objects.filter(api_key_id=key.pk).count() == 2
    company.delete()
    batching.add(record(key, user_agent="company gone"))
    batching.add(record(other_key))
    assert batching.flush() == 2
    assert RequestLog.objects.filter(api_key_id=other_key.pk).count() == 2
    assert batching.stats["set_aside"] == 0


def test_a_deleted_company_takes_its_log_with_it(alice_key, company):
    key, raw = alice_key
    key_client(raw).get("/api/v1/me")
    assert RequestLog.objects.filter(company=company).count() == 1
    company.delete()
    assert not RequestLog.objects.filter(company_id=company.pk).exists()
    assert not UsageRollup.objects.filter(company_id=company.pk).exists()


def test_an_unreachable_database_keeps_the_batch_in_order_for_the_next_try(batching, alice_key, monkeypatch):
    key = alice_key[0]
    for i in range(5):
        batching.add(record(key, user_agent=str(i)))

    def down(records):
        raise OperationalError("connection refused")

    monkeypatch.setattr(recorder_module, "write", down)
    assert batching.flush() == 0 and batching.stats["set_aside"] == 0
    monkeypatch.undo()
    monkeypatch.setattr(Recorder, "_ensure_thread", lambda self: None)
    batching.add(record(key, user_agent="5"))
    assert batching.flush() == 6
    assert list(RequestLog.objects.order_by("id").values_list("user_agent", flat=True)) == list("012345")


def test_past_the_backlog_limit_the_oldest_records_are_dropped_and_counted(batching, alice_key, monkeypatch, caplog):
    monkeypatch.setattr(recorder_module, "MAX_PENDING", 5)
    for i in range(8):
        batching.add(record(alice_key[0], user_agent=str(i)))
    with caplog.at_level(logging.ERROR, logger="usage.recorder"):
        assert batching.flush() == 5
    assert batching.stats["dropped"] == 3
    assert sorted(RequestLog.objects.values_list("user_agent", flat=True)) == ["3", "4", "5", "6", "7"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # its death is the point
def test_the_writer_survives_errors_and_a_dead_writer_is_restarted_by_the_next_request(alice_key, monkeypatch):
    key = alice_key[0]
    live = Recorder(interval=0.05)
    failures = iter([RuntimeError("a bug in the writer"), SystemExit()])

    class FlakyConnection:
        """The writer thread's connection, failing twice before it first answers."""

        def close_if_unusable_or_obsolete(self):
            error = next(failures, None)
            if error is not None:
                raise error
            connection.close_if_unusable_or_obsolete()

        def close(self):
            connection.close()

    monkeypatch.setattr(recorder_module, "connection", FlakyConnection())
    live.add(record(key, user_agent="first"))
    first_thread = live._thread
    first_thread.join(timeout=5)  # survives the RuntimeError, then the SystemExit ends it
    assert not first_thread.is_alive()
    live.add(record(key, user_agent="second"))
    assert live.stats["restarts"] == 1 and live._thread.is_alive() and live._thread is not first_thread
    deadline = time.monotonic() + 5
    # Wait on the recorder, not the table: in-memory SQLite locks a table a thread is writing.
    while live.stats["written"] < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    live.close()
    assert not live._thread.is_alive()
    assert sorted(RequestLog.objects.values_list("user_agent", flat=True)) == ["first", "second"]


def test_long_headers_are_cut_to_their_columns_not_refused(alice_key):
    key, raw = alice_key
    key_client(raw).get("/api/v1/me", HTTP_USER_AGENT="é" * 1000, HTTP_ORIGIN="https://" + "a" * 300 + ".example.com")
    logged = RequestLog.objects.get()
    assert logged.user_agent == "é" * 255 and len(logged.domain) == 255


def test_a_key_in_the_user_agent_or_origin_is_stored_masked(alice_key, bob):
    """What the client sent is shown on the usage pages and in admin: a key pasted into it (here
    a colleague's) is stored as the dashboard shows keys, sk_live_AbCd…, never whole (the path
    too, for a host's product routes that take free text)."""
    key, raw = alice_key
    _, pasted = make_key(bob)
    shown = pasted[:12] + "…"
    response = key_client(raw).get("/api/v1/demo/echo", HTTP_USER_AGENT=f"script/1.0 {pasted}",
                                   HTTP_ORIGIN=f"https://{pasted}.example.com")
    assert response.status_code == 200
    logged = RequestLog.objects.get()
    assert (logged.user_agent, logged.domain) == (f"script/1.0 {shown}", f"{shown}.example.com".lower())
    assert pasted[12:].lower() not in str(RequestLog.objects.values_list().get()).lower()


def test_a_key_cut_short_in_the_user_agent_is_stored_masked_too(alice_key, bob):
    """A copy that missed the key's last characters still holds its secret (the checksum can be
    worked out again): any piece longer than the dashboard's prefix is masked."""
    _, raw = alice_key
    _, pasted = make_key(bob)
    for cut in (pasted[:-1], pasted[:20]):
        assert key_client(raw).get("/api/v1/demo/echo", HTTP_USER_AGENT=f"script/1.0 {cut}").status_code == 200
    assert sorted(RequestLog.objects.values_list("user_agent", flat=True)) == [f"script/1.0 {pasted[:12]}…"] * 2
    assert pasted[12:20].lower() not in str(list(RequestLog.objects.values_list())).lower()


def test_a_keyed_request_writes_last_used_at_with_its_log_batch_not_on_its_own(batching, alice_key, other_key,
                                                                                 monkeypatch):
    key, raw = alice_key
    monkeypatch.setattr("usage.middleware.recorder", batching)
    assert key_client(raw).get("/api/v1/me").status_code == 200
    # Nothing written by the request itself: not the log row, not the key.
    assert not RequestLog.objects.exists()
    assert ApiKey.objects.get(pk=key.pk).last_used_at is None
    later = timezone.now() + timedelta(seconds=5)
    batching.add(record(other_key, created_at=later))
    batching.flush()
    assert RequestLog.objects.count() == 2
    assert ApiKey.objects.get(pk=other_key.pk).last_used_at == later
    assert ApiKey.objects.get(pk=key.pk).last_used_at == RequestLog.objects.get(api_key=key).created_at


def test_last_used_at_takes_the_latest_use_of_a_batch_and_moves_at_most_once_a_minute(batching, alice_key):
    key = alice_key[0]
    start = timezone.now()
    for seconds in (0, 20, 10):
        batching.add(record(key, created_at=start + timedelta(seconds=seconds)))
    batching.flush()
    assert ApiKey.objects.get(pk=key.pk).last_used_at == start + timedelta(seconds=20)
    batching.add(record(key, created_at=start + timedelta(seconds=70)))
    batching.flush()
    assert ApiKey.objects.get(pk=key.pk).last_used_at == start + timedelta(seconds=20)
    batching.add(record(key, created_at=start + timedelta(seconds=81)))
    batching.flush()
    assert ApiKey.objects.get(pk=key.pk).last_used_at == start + timedelta(seconds=81)


@pytest.mark.parametrize("code", ["revoked_api_key", "expired_api_key", "inactive_owner"])
def test_a_request_refused_for_what_the_key_is_is_not_a_use(batching, alice_key, code):
    key = alice_key[0]
    batching.add(record(key, status_code=401, error_code=code))
    batching.flush()
    assert RequestLog.objects.get(api_key=key).error_code == code
    assert ApiKey.objects.get(pk=key.pk).last_used_at is None


def test_a_request_refused_for_what_it_asked_is_a_use(batching, alice_key):
    key = alice_key[0]
    batching.add(record(key, status_code=429, error_code="request_limit_exceeded"))
    batching.flush()
    assert ApiKey.objects.get(pk=key.pk).last_used_at is not None


def test_a_batch_of_many_keys_is_counted_exactly_once_in_the_log_the_rollups_and_last_used_at(batching, company,
                                                                                               monkeypatch):
    # Keys from three owners (a member holds at most 100), several records each over two hours,
    # tiers and outcomes; SQLite's upsert goes in chunks, made small here so that a batch spans many.
    monkeypatch.setattr("usage.log_writes.SQLITE_ROLLUP_CHUNK", 7)
    owners = [member(company, username=f"owner{n}") for n in range(3)]
    keys = [make_key(owner, name=f"key {i}")[0] for owner in owners for i in range(40)]
    start = timezone.now().replace(minute=59, second=0, microsecond=0) - timedelta(hours=1)
    expected_requests, expected_spend, expected_last = {}, {}, {}
    for flush in range(2):  # the second batch adds to the rows the first made
        for k, key in enumerate(keys):
            for n in range(k % 4 + 1):
                at = start + timedelta(seconds=30 * n + 90 * flush)  # spans the hour boundary
                status, code = (200, "") if n % 3 else (429, "request_limit_exceeded")
                batching.add(record(key, created_at=at, tier=("free", "pro")[n % 2], status_code=status,
                                    error_code=code, cost_microcents=n + 1))
                expected_requests[key.pk] = expected_requests.get(key.pk, 0) + 1
                expected_spend[key.pk] = expected_spend.get(key.pk, 0) + n + 1
                expected_last[key.pk] = max(expected_last.get(key.pk, at), at)
        batching.flush()
    assert batching.stats["written"] == RequestLog.objects.count() == sum(expected_requests.values())
    for model in (UsageRollup, DailyRollup):
        totals = {}
        for key_id, requests, spend in model.objects.values_list("api_key_id", "requests", "spend_microcents"):
            totals[key_id] = [a + b for a, b in zip(totals.get(key_id, [0, 0]), (requests, spend), strict=True)]
        assert totals == {pk: [expected_requests[pk], expected_spend[pk]] for pk in expected_requests}
    assert UsageRollup.objects.filter(api_key=keys[3]).count() == 6  # its 2 dimensions of the first hour, 4 of the next
    assert dict(ApiKey.objects.filter(company=company).values_list("pk", "last_used_at")) == expected_last


def test_a_time_in_another_zone_is_stored_as_the_same_instant_in_the_log_and_the_rollups(batching, other_key):
    # The writer converts UTC times itself, cheaply; a time in any other zone takes Django's path.
    utc = timezone.now().replace(minute=10, second=0, microsecond=250)
    elsewhere = (utc + timedelta(minutes=20)).astimezone(zoneinfo.ZoneInfo("America/St_Johns"))  # UTC-3:30 or -2:30
    batching.add(record(other_key, created_at=utc, request_id="utc"))
    batching.add(record(other_key, created_at=elsewhere, request_id="elsewhere"))
    batching.flush()
    stored = dict(RequestLog.objects.values_list("request_id", "created_at"))
    assert stored == {"utc": utc, "elsewhere": elsewhere}
    rollup = UsageRollup.objects.get(api_key=other_key)
    assert (rollup.bucket, rollup.requests, rollup.last_seen) == (utc.replace(minute=0, microsecond=0), 2, elsewhere)


def test_client_addresses_are_stored_as_given_in_a_batch_that_repeats_them(batching, other_key):
    """The writer keeps each address's conversion (usage.log_writes): repeated addresses, IPv4
    and IPv6, and a request with none, all land in their own rows as they were handed over."""
    addresses = ["2001:db8::1", "203.0.113.9", None, "2001:db8::1", "203.0.113.9", "2001:db8::2"]
    for n, address in enumerate(addresses):
        batching.add(record(other_key, client_ip=address, request_id=f"r{n}"))
    assert batching.flush() == len(addresses)
    stored = dict(RequestLog.objects.values_list("request_id", "client_ip"))
    assert [stored[f"r{n}"] for n in range(len(addresses))] == addresses


@pytest.mark.django_db(transaction=True)
def test_a_batch_meeting_another_writers_lock_waits_whole_for_the_next_flush(batching, other_key):
    """Another transaction writing the rollups (an admin's shell, a second worker's flush): on
    SQLite, one writer at a time, the batch meets its lock and waits whole for the next flush;
    on PostgreSQL it goes in beside it. Either way no record is set aside, none is written twice."""
    holding, release = threading.Event(), threading.Event()

    def other_writer():
        try:
            with transaction.atomic():
                UsageRollup.objects.create(api_key_id=other_key.pk, company_id=other_key.company_id,
                                           bucket=timezone.now() - timedelta(days=3), tier="free", status_code=200,
                                           error_code="", requests=1, spend_microcents=0, last_seen=timezone.now())
                holding.set()
                release.wait(10)
        finally:
            holding.set()
            connection.close()

    writer = threading.Thread(target=other_writer)
    writer.start()
    try:
        assert holding.wait(10)
        for n in range(3):
            batching.add(record(other_key, request_id=f"r{n}"))
        first = batching.flush()
        if connection.vendor == "sqlite":  # one writer at a time: the batch waits, whole
            assert first == 0 and RequestLog.objects.count() == 0
    finally:
        release.set()
        writer.join()
    batching.flush()
    assert batching.stats["set_aside"] == 0 and batching.stats["written"] == 3
    assert sorted(RequestLog.objects.values_list("request_id", flat=True)) == ["r0", "r1", "r2"]
    assert UsageRollup.objects.filter(api_key=other_key, tier="free").order_by("bucket").last().requests == 3


def test_the_writer_adds_to_a_rollup_row_the_orm_wrote_for_the_same_hour(batching, other_key):
    """The writer converts times to SQLite's text itself (core.sqlite_bulk): a bucket it writes
    must be the very text Django writes, or the upsert would start a second row for the hour."""
    at = timezone.now().replace(minute=30, second=0, microsecond=0)
    hour = at.replace(minute=0)
    UsageRollup.objects.create(api_key_id=other_key.pk, company_id=other_key.company_id, bucket=hour, tier="free",
                               status_code=200, error_code="", requests=5, spend_microcents=7,
                               last_seen=at - timedelta(minutes=20))
    for seconds in (0, 1, 2):  # .000000 and .000250: both shapes of Django's text
        batching.add(record(other_key, created_at=at + timedelta(seconds=seconds, microseconds=250 * (seconds % 2)),
                            cost_microcents=1))
    batching.flush()
    rollup = UsageRollup.objects.get(api_key=other_key)
    assert (rollup.bucket, rollup.requests, rollup.spend_microcents) == (hour, 8, 10)
    assert rollup.last_seen == at + timedelta(seconds=2)
    assert UsageRollup.objects.filter(api_key=other_key, bucket__gte=hour, last_seen__gt=at).count() == 1


def test_a_batch_split_around_a_bad_record_still_records_the_good_ones_last_use(batching, alice_key, other_key):
    # The first, whole try is rolled back: the uses it would have recorded must stay due.
    batching.add(record(alice_key[0]))
    batching.add(record(other_key, status_code=-1))  # refused by the database
    assert batching.flush() == 1 and batching.stats["set_aside"] == 1
    alice_key[0].refresh_from_db()
    assert alice_key[0].last_used_at is not None


def test_two_records_an_hour_apart_at_the_same_local_time_keep_their_own_instants(batching, alice_key, other_key):
    # 01:30 in New York happens twice on the night clocks go back; the two compare equal in Python.
    zone = zoneinfo.ZoneInfo("America/New_York")
    first = timezone.datetime(2025, 11, 2, 1, 30, tzinfo=zone)
    second = first.replace(fold=1)
    batching.add(record(alice_key[0], created_at=first))
    batching.add(record(other_key, created_at=second))
    assert batching.flush() == 2
    seen = dict(UsageRollup.objects.values_list("api_key_id", "last_seen"))
    utc = zoneinfo.ZoneInfo("UTC")  # a fold=1 time never equals another zone's (PEP 495): compare in UTC
    assert seen == {alice_key[0].pk: first.astimezone(utc), other_key.pk: second.astimezone(utc)}
    assert seen[other_key.pk] - seen[alice_key[0].pk] == timedelta(hours=1)


def test_the_backlog_gauge_is_never_0_while_a_record_waits_and_0_once_all_are_written(batching, alice_key,
                                                                                     monkeypatch):
    """Counted at each flush rather than on every record (docs/deploy.md): a bench or an
    operator waiting for 0 never sees it while a record, even one that arrived during a
    flush, is still unwritten."""
    key = alice_key[0]
    start = REGISTRY.get_sample_value("keyhouse_usage_backlog")

    def shown() -> float:
        return REGISTRY.get_sample_value("keyhouse_usage_backlog") - start

    batching.add(record(key))
    assert shown() >= 1
    for n in range(5):
        batching.add(record(key, user_agent=f"more {n}"))
    assert shown() >= 1
    real_write = recorder_module.write

    def write_while_one_more_arrives(part):
        batching.add(record(key, user_agent="arrived during the flush"))
        assert shown() >= 1
        real_write(part)

    monkeypatch.setattr(recorder_module, "write", write_while_one_more_arrives)
    assert batching.flush() == 6
    assert shown() == 1
    monkeypatch.setattr(recorder_module, "write", real_write)
    assert batching.flush() == 1
    assert shown() == 0
    assert RequestLog.objects.filter(api_key_id=key.pk).count() == 7


def test_a_writer_that_could_not_start_is_started_by_the_next_record(alice_key, monkeypatch, caplog):
    """A thread or memory limit met once: the request is still answered, its record waits, and
    the next record starts the writer, which writes both."""
    key = alice_key[0]
    live = Recorder(interval=0.05)
    real_start = threading.Thread.start
    refused = []

    def start_refused_once(thread):
        if thread.name == "usage-recorder" and not refused:
            refused.append(thread)
            raise RuntimeError("can't start new thread")
        return real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", start_refused_once)
    with caplog.at_level(logging.ERROR, logger="usage.recorder"):
        live.add(record(key, user_agent="first"))
    assert refused and "could not start its thread" in caplog.text and not live.alive()
    live.add(record(key, user_agent="second"))
    assert live.alive()
    deadline = time.monotonic() + 5
    while live.stats["written"] < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    live.close()
    assert sorted(RequestLog.objects.values_list("user_agent", flat=True)) == ["first", "second"]
