"""The key cache: each worker's own copies in front of a shared Redis, and how a change
reaches every worker at once. On a Redis of the module's own (tests/redis_server.py),
whatever the suite's own cache; the last test runs a real gunicorn with several workers."""
import logging
import re
import threading
import time
from datetime import timedelta

import pytest
import redis
from django.core.cache import cache
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client import REGISTRY

from keys import cache as key_cache
from keys import invalidation
from keys.models import ApiKey, KeyChangeGeneration
from keys.selectors import api_key_by_hashes
from keys.services import api_key_revoke, api_keys_touch
from keys.verification import KeyGrant
from tests.clients import key_client
from tests.factories import make_key
from tests.live import live_gunicorn, request
from tests.redis_server import OwnRedis

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def redis_url():
    server = OwnRedis().start()
    yield server.url
    server.stop()


def wait_until(condition, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture
def shared(settings, redis_url):
    """Redis as the cache, and this process's listener subscribed. The management limit's count
    is a Redis command of its own on every /me (usage.windows, tested across workers in
    tests/usage/test_gunicorn.py): off here, so what is counted is the key cache's work alone."""
    settings.CACHES = {"default": {"BACKEND": key_cache.REDIS_BACKEND, "LOCATION": redis_url}}
    settings.MANAGEMENT_REQUESTS_PER_MINUTE = 0
    cache.clear()
    listener = invalidation.listener(key_cache._drop_copies)
    assert wait_until(lambda: listener.live), "the listener never subscribed"
    return listener


def test_one_listener_and_one_redis_client_serve_every_thread_and_request_context(shared, redis_url):
    """Django's cache objects are per thread (per request context under ASGI): were the listener
    and the client kept on them, every thread would subscribe, and a revoke would wait for all."""
    from asgiref.sync import async_to_sync

    from core.redis_client import redis_client

    seen = []

    def in_a_thread():
        seen.append((invalidation.listener(key_cache._drop_copies), redis_client()))

    async def in_a_request_context():
        seen.append((invalidation.listener(key_cache._drop_copies), redis_client()))

    threads = [threading.Thread(target=in_a_thread) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for _ in range(3):
        async_to_sync(in_a_request_context)()
    assert {id(found) for found, _ in seen} == {id(shared)}
    assert len({id(client) for _, client in seen}) == 1
    assert redis.Redis.from_url(redis_url).pubsub_numsub(shared.channel) == [(shared.channel.encode(), 1)]


@pytest.mark.django_db(transaction=True)  # the requests' threads read the key from the database
def test_requests_in_fresh_contexts_share_the_process_s_redis_connections(shared, alice_key, redis_url, settings):
    """Django makes a cache object per thread and, under an ASGI server, per request (each starts
    from an empty context): with a pool each, every request opened Redis connections of its own.
    Each request here runs through the ASGI handler in a thread of its own, so in a new context."""
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    settings.API_KEY_LOCAL_SECONDS = 0  # every request asks Redis
    _, raw = alice_key
    statuses = []

    async def call():
        statuses.append((await AsyncClient().get("/api/v1/me", headers={"API-Key": raw})).status_code)

    def in_a_new_context():
        thread = threading.Thread(target=async_to_sync(call))
        thread.start()
        thread.join()

    def connections_made() -> int:
        return redis.Redis.from_url(redis_url).info("stats")["total_connections_received"]

    in_a_new_context()
    before = connections_made()
    for _ in range(30):
        in_a_new_context()
    assert statuses == [200] * 31
    assert connections_made() - before <= 2  # the counting itself is one connection


def test_a_worker_s_first_use_of_redis_may_be_the_listener_or_a_script(settings, redis_url):
    """A gunicorn worker's first request may need the shared client before the cache made its
    own: that must not wait on itself."""
    from core.redis_client import redis_client

    settings.CACHES = {"default": {"BACKEND": key_cache.REDIS_BACKEND, "LOCATION": redis_url}}
    first = threading.Thread(target=lambda: redis_client().ping(), daemon=True)
    first.start()
    first.join(timeout=5)
    assert not first.is_alive(), "the first redis_client() of a fresh cache never returned"


def redis_commands(url: str) -> int:
    """Commands Redis ran, but the listeners' heartbeat pings and this count's own connection."""
    stats = redis.Redis.from_url(url).info("commandstats")
    return sum(s["calls"] for name, s in stats.items() if name not in ("cmdstat_ping", "cmdstat_info", "cmdstat_hello"))


def test_a_worker_answers_a_known_key_from_its_own_copy_without_asking_redis(shared, alice_key, redis_url):
    key, raw = alice_key
    client = key_client(raw)
    assert client.get("/api/v1/me").status_code == 200  # reads the row, caches it, records the use
    idle = -redis_commands(redis_url) + redis_commands(redis_url)  # what counting costs by itself
    before = redis_commands(redis_url)
    response = client.get("/api/v1/me")
    assert response.status_code == 200 and response.json()["api_key"]["id"] == str(key.pk)
    assert redis_commands(redis_url) - before == idle


def test_with_the_channel_up_a_copy_outlives_the_local_lifetime(shared, settings, alice_key, redis_url):
    """2,000 keys in rotation: a key used every few seconds still comes from the worker's
    memory, since every change to it would be announced."""
    settings.API_KEY_LOCAL_SECONDS = 0.2
    key, raw = alice_key
    client = key_client(raw)
    assert client.get("/api/v1/me").status_code == 200
    time.sleep(settings.API_KEY_LOCAL_SECONDS * 3)
    before = redis_commands(redis_url)
    assert client.get("/api/v1/me").status_code == 200
    assert redis_commands(redis_url) == before


def test_a_worker_whose_channel_stops_answering_serves_no_copy(shared, settings, alice_key, redis_url):
    """Pings unanswered (Redis paused, a connection dead unnoticed): within API_KEY_LOCAL_SECONDS
    the copies are no longer served, however live the subscription looks; once answered, again."""
    key, raw = alice_key
    assert key_client(raw).get("/api/v1/me").status_code == 200
    assert key_cache.cached_key(key.key_hash)[1] is None  # from the worker's copy
    redis.Redis.from_url(redis_url).client_pause(1500)
    time.sleep(settings.API_KEY_LOCAL_SECONDS + invalidation.HEARTBEAT_SECONDS * 2)
    assert shared.live and not shared.fresh()
    missed, lookup = key_cache.cached_key(key.key_hash)  # waits for Redis, then answers from it
    assert lookup is not None and missed is not None
    assert wait_until(shared.fresh, 5)
    assert key_cache.cached_key(key.key_hash)[1] is None


@pytest.fixture
def local_only(settings, monkeypatch):
    """Local memory as the cache (the SQLite deployment), and the key cache's clock in the
    test's hands: `local_only.tick(seconds)` moves it."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.API_KEY_CHANGES_IN_DATABASE = True  # SQLite's default, set for the PostgreSQL pass too
    clock = [time.monotonic()]
    monkeypatch.setattr(key_cache.time, "monotonic", lambda: clock[0])

    class Clock:
        @staticmethod
        def tick(seconds: float) -> None:
            clock[0] += seconds

    return Clock


def generation() -> int:
    return KeyChangeGeneration.objects.filter(pk=KeyChangeGeneration.ROW).values_list("value", flat=True).first() or 0


def key_reads(queries) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].startswith("SELECT") and '"keys_apikey"' in q["sql"]]


@pytest.fixture
def other_worker(monkeypatch):
    """Changes made from here on are made as another worker process would make them: this
    process drops no copy itself, and learns of them from the change generation alone."""
    monkeypatch.setattr(key_cache, "_forget", lambda key_hashes, announce: None)


def test_without_redis_a_copy_outlives_the_local_lifetime_while_nothing_changes(local_only, settings, alice_key):
    """2,000 keys in rotation on SQLite: a key that comes back after API_KEY_LOCAL_SECONDS is
    still served from the worker's memory; the worker reads the change generation (one query,
    at most once per API_KEY_LOCAL_SECONDS), not the key."""
    key, raw = alice_key
    client = key_client(raw)
    assert client.get("/api/v1/me").status_code == 200
    local_only.tick(settings.API_KEY_LOCAL_SECONDS * 10)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/me")
    assert response.status_code == 200 and response.json()["api_key"]["id"] == str(key.pk)
    assert key_reads(queries.captured_queries) == []
    assert [q["sql"] for q in queries.captured_queries if "keys_keychangegeneration" in q["sql"]] != []
    local_only.tick(settings.API_KEY_LOCAL_SECONDS * 10)
    with CaptureQueriesContext(connection) as queries:
        assert key_cache.cached_key(key.key_hash)[1] is None  # the worker's copy
        assert key_cache.cached_key(key.key_hash)[1] is None  # the generation is not read again
    assert len(queries.captured_queries) == 1 and "keys_keychangegeneration" in queries.captured_queries[0]["sql"]


def test_without_redis_a_copy_lives_no_longer_than_the_shared_lifetime(local_only, settings, alice_key):
    key, raw = alice_key
    assert key_client(raw).get("/api/v1/me").status_code == 200
    local_only.tick(settings.API_KEY_CACHE_SECONDS + 1)
    assert key_cache.cached_key(key.key_hash)[1] is not None


def test_without_redis_another_worker_s_revocation_is_refused_within_the_local_lifetime(
        local_only, settings, alice, alice_key, other_worker, django_capture_on_commit_callbacks):
    key, raw = alice_key
    client = key_client(raw)
    assert client.get("/api/v1/me").status_code == 200
    before = generation()
    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(api_key=key, actor_user=alice)
    assert generation() == before + 1
    assert key_cache.cached_key(key.key_hash)[1] is None  # this worker has not read it yet: its copy
    local_only.tick(settings.API_KEY_LOCAL_SECONDS + 0.01)
    response = client.get("/api/v1/me")
    assert response.status_code == 401 and response.json()["code"] == "revoked_api_key"


def test_without_redis_a_change_rolled_back_moves_no_generation(local_only, alice_key):
    key, _ = alice_key
    before = generation()
    with pytest.raises(RuntimeError), transaction.atomic():
        ApiKey.objects.filter(pk=key.pk).update(name="Renamed")
        assert generation() == before + 1  # in the changing transaction, seen by others as it commits
        raise RuntimeError
    assert generation() == before


def test_without_redis_a_lookup_begun_before_a_change_keeps_no_copy(local_only, settings, alice, alice_key, bob,
                                                                    other_worker, django_capture_on_commit_callbacks):
    """A request misses and reads the key row; another worker revokes the key; this worker reads
    the generation (for another request) before the first request stores its copy: the epoch
    has moved, so the row read before the change is not kept."""
    key, raw = alice_key
    _, other_raw = make_key(bob)
    missed, lookup = key_cache.cached_key(key.key_hash)
    assert missed is None and lookup.epoch is not None
    row, _ = api_key_by_hashes([key.key_hash])
    snapshot = KeyGrant.from_row(row, presented_previous=False)
    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(api_key=key, actor_user=alice)
    local_only.tick(settings.API_KEY_LOCAL_SECONDS + 0.01)
    assert key_client(other_raw).get("/api/v1/me").status_code == 200  # reads the generation: it moved
    key_cache.remember(snapshot, key.key_hash, lookup)
    assert key_cache.cached_key(key.key_hash)[1] is not None  # not kept
    response = key_client(raw).get("/api/v1/me")
    assert response.status_code == 401 and response.json()["code"] == "revoked_api_key"


def test_without_redis_a_copy_kept_before_the_change_is_heard_goes_at_the_next_read(
        local_only, settings, alice, alice_key, other_worker, django_capture_on_commit_callbacks):
    """The same race when no read of the generation came between: the stale copy is kept, and
    served until this worker next reads the generation, API_KEY_LOCAL_SECONDS at most."""
    key, raw = alice_key
    missed, lookup = key_cache.cached_key(key.key_hash)
    row, _ = api_key_by_hashes([key.key_hash])
    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(api_key=key, actor_user=alice)
    key_cache.remember(KeyGrant.from_row(row, presented_previous=False), key.key_hash, lookup)
    assert key_cache.cached_key(key.key_hash)[1] is None
    local_only.tick(settings.API_KEY_LOCAL_SECONDS + 0.01)
    response = key_client(raw).get("/api/v1/me")
    assert response.status_code == 401 and response.json()["code"] == "revoked_api_key"


def test_without_redis_use_moves_no_generation(local_only, settings, alice_key):
    """Requests, their log and last_used_at change nothing a snapshot holds: were the
    generation moved by them, every copy would go at each request or flush."""
    key, raw = alice_key
    client = key_client(raw)
    before = generation()
    for _ in range(3):
        assert client.get("/api/v1/me").status_code == 200
        local_only.tick(settings.API_KEY_LOCAL_SECONDS + 0.01)
    api_keys_touch(uses={key.pk: timezone.now() + timedelta(hours=1)})
    assert ApiKey.objects.get(pk=key.pk).last_used_at is not None
    assert generation() == before
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/me").status_code == 200
    assert key_reads(queries.captured_queries) == []


def test_without_redis_or_the_change_generation_a_copy_lives_the_local_lifetime_only(
        local_only, settings, alice, alice_key, django_capture_on_commit_callbacks):
    """PostgreSQL's default without Redis: no generation is counted or read, so a worker, told
    of nothing, keeps a copy API_KEY_LOCAL_SECONDS and then reads the key again."""
    settings.API_KEY_CHANGES_IN_DATABASE = False
    key, raw = alice_key
    assert key_client(raw).get("/api/v1/me").status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert key_cache.cached_key(key.key_hash)[1] is None  # its copy, no query
    assert queries.captured_queries == []
    local_only.tick(settings.API_KEY_LOCAL_SECONDS + 0.01)
    assert key_cache.cached_key(key.key_hash)[1] is not None  # gone: the key is read again
    before = generation()
    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(api_key=key, actor_user=alice)
    assert generation() == before


def test_with_redis_no_generation_is_counted_or_read(shared, alice, alice_key, django_capture_on_commit_callbacks):
    key, raw = alice_key
    assert key_client(raw).get("/api/v1/me").status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert key_cache.cached_key(key.key_hash)[1] is None
    assert queries.captured_queries == []
    before = generation()
    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(api_key=key, actor_user=alice)
    assert generation() == before


def test_a_row_read_before_a_revocation_is_never_cached_after_it(shared, alice, alice_key,
                                                                  django_capture_on_commit_callbacks):
    """The race a cache must survive: a request misses and reads the key row, the key is
    revoked, then that request caches the row it read: neither Redis nor the worker keeps it."""
    key, raw = alice_key
    missed, lookup = key_cache.cached_key(key.key_hash)
    assert missed is None and lookup.version is not None and lookup.epoch is not None
    row, _ = api_key_by_hashes([key.key_hash])
    snapshot = KeyGrant.from_row(row, presented_previous=False)
    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(api_key=key, actor_user=alice)
    key_cache.remember(snapshot, key.key_hash, lookup)
    assert key_cache.cached_key(key.key_hash)[0] is None
    response = key_client(raw).get("/api/v1/me")
    assert response.status_code == 401 and response.json()["code"] == "revoked_api_key"


def timeouts_counted() -> float:
    return REGISTRY.get_sample_value("keyhouse_invalidation_ack_timeouts_total") or 0.0


def test_a_revocation_while_redis_is_down_is_made_and_the_log_names_the_way_out(
        unreachable_redis, alice, alice_key, django_capture_on_commit_callbacks, caplog):
    """The database is what counts: the key is revoked. The cached snapshots could not be
    forgotten, and the operator reading the error learns how to forget them once Redis is back."""
    key, _ = alice_key
    with caplog.at_level(logging.ERROR, logger="keys.cache"), django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(api_key=key, actor_user=alice)
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert "Key cache unreachable" in caplog.text and "manage.py forget_cached_keys" in caplog.text


def test_a_revocation_waits_for_a_silent_worker_no_longer_than_its_copies_live(
        shared, settings, alice, alice_key, django_capture_on_commit_callbacks, caplog, redis_url):
    """A subscriber that never confirms (a worker whose connection died unnoticed) delays the
    revoke until its copies have expired anyway, and is reported; a healthy one answers at once."""
    key, _ = alice_key
    silent = redis.Redis.from_url(redis_url).pubsub()
    silent.subscribe(shared.channel)
    try:
        assert silent.get_message(timeout=2)["type"] == "subscribe"
        timeouts = timeouts_counted()
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="keys.invalidation"), \
                django_capture_on_commit_callbacks(execute=True):
            api_key_revoke(api_key=key, actor_user=alice)
        waited = time.monotonic() - started
    finally:
        silent.close()
    # Long enough that the silent worker's copies are gone; then it gives up once for all the
    # workers left, rather than waiting for each (how long that took is the machine's business).
    assert waited >= settings.API_KEY_LOCAL_SECONDS, waited
    assert timeouts_counted() == timeouts + 1
    # Listeners of earlier tests' caches may still be subscribed for a second; they confirm.
    assert re.search(r"1 of \d+ workers did not confirm a key change", caplog.text), caplog.text

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="keys.invalidation"), \
            django_capture_on_commit_callbacks(execute=True):
        key_cache.forget_key(key)
    assert timeouts_counted() == timeouts + 1 and "did not confirm" not in caplog.text  # every worker answered


def test_a_worker_that_loses_the_channel_drops_its_copies_and_subscribes_again(shared, alice_key, redis_url):
    key, raw = alice_key
    assert key_client(raw).get("/api/v1/me").status_code == 200
    assert key_cache.cached_key(key.key_hash)[1] is None  # answered from the worker's copy
    redis.Redis.from_url(redis_url).client_kill_filter(_type="pubsub")
    assert wait_until(lambda: not shared.live)
    missed, lookup = key_cache.cached_key(key.key_hash)
    assert lookup is not None and lookup.epoch is None  # no copy kept while it cannot hear of changes
    assert missed is not None  # still served, from Redis
    assert wait_until(lambda: shared.live, invalidation.RECONNECT_SECONDS + 3)
    assert key_client(raw).get("/api/v1/me").status_code == 200


@pytest.mark.django_db(transaction=False)
def test_every_gunicorn_worker_refuses_a_revoked_key_as_soon_as_the_revoke_returns(tmp_path, redis_url):
    """Three workers each answer the key from their own copy; the revoke through the API
    returns only once all have dropped it: no request sent after that is admitted."""
    with live_gunicorn(tmp_path, workers=3, cache_url=redis_url) as server:
        admin = server.member_key("olivia", "Acme", "owner")
        raw = server.member_key("carol", "Acme", "member")
        items = server.request("GET", "/api/v1/api-keys?scope=company", admin)[2]["items"]
        kid = next(k["id"] for k in items if k["owner"]["username"] == "carol")
        revoked, results, lock = {}, [], threading.Lock()

        def sent_after():
            with lock:
                return sum(sent > revoked["at"] for sent, _, _ in results)

        def hammer():
            # A second past the revoke, and on a loaded machine until enough requests went out
            # after it (each may take longer than that second), within a bound.
            while "at" not in revoked or (time.monotonic() < revoked["at"] + 15
                                          and (time.monotonic() < revoked["at"] + 1.0 or sent_after() <= 20)):
                sent = time.monotonic()
                status = request(server.port, "GET", "/api/v1/me", raw)[0]
                with lock:
                    results.append((sent, time.monotonic(), status))

        threads = [threading.Thread(target=hammer) for _ in range(8)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        revoking = time.monotonic()
        status = server.request("DELETE", f"/api/v1/api-keys/{kid}", admin)[0]
        revoked["at"] = time.monotonic()
        for thread in threads:
            thread.join(timeout=30)
    assert status == 204
    before = {s for _, answered, s in results if answered < revoking}
    after = [s for sent, _, s in results if sent > revoked["at"]]
    assert before == {200}, before
    assert len(after) > 20 and set(after) == {401}, {s: after.count(s) for s in set(after)}


def test_switching_an_owner_off_refuses_their_keys_at_once(shared, alice, alice_key,
                                                           django_capture_on_commit_callbacks):
    """The key is cached with its owner; deactivating the account (as admin does) forgets it."""
    _, raw = alice_key
    client = key_client(raw)
    assert client.get("/api/v1/me").status_code == 200
    alice.is_active = False
    with django_capture_on_commit_callbacks(execute=True):
        alice.save()
    response = client.get("/api/v1/me")
    assert response.status_code == 401 and response.json()["code"] == "inactive_owner"
    alice.is_active = True
    with django_capture_on_commit_callbacks(execute=True):
        alice.save()
    assert client.get("/api/v1/me").status_code == 200


def test_a_value_verified_once_is_recognised_without_hashing_it_again(local_only, alice_key, monkeypatch):
    """The hot path finds the worker's copy by the value's SHA-256, not its HMAC (a quarter of
    the cost); a value one character off is a stranger all the same."""
    key, raw = alice_key
    client = key_client(raw)
    assert client.get("/api/v1/me").status_code == 200

    def no_hmac(*args, **kwargs):
        raise AssertionError("the HMAC was computed again")

    monkeypatch.setattr("core.crypto.hash_key", no_hmac)
    response = client.get("/api/v1/me")
    assert response.status_code == 200 and response.json()["api_key"]["id"] == str(key.pk)
    monkeypatch.undo()
    near = raw[:-1] + ("A" if raw[-1] != "A" else "B")
    assert key_client(near).get("/api/v1/me").status_code == 401


def test_only_values_that_matched_a_key_are_remembered(local_only, alice_key):
    """Whatever else is sent in a key header (a typo, a password pasted by mistake) leaves
    nothing behind in the worker's memory, not even its digest."""
    _, raw = alice_key
    strangers = ["", "hunter2", raw[:-1], "sk_live_" + "x" * 38, raw + "x"]
    for value in strangers:
        assert key_client(value).get("/api/v1/me").status_code == 401
    assert key_cache._recognised == {}
    assert key_client(raw).get("/api/v1/me").status_code == 200
    assert len(key_cache._recognised) == 1


@pytest.mark.parametrize("cache_kind", ["local_only", "shared"])
def test_a_key_revoked_after_a_pepper_rotation_stays_refused_if_the_peppers_are_rolled_back(
        cache_kind, request, settings, alice, django_capture_on_commit_callbacks):
    """The entry cached under the key's hash before the rotation must not answer for it again
    when the old pepper is the newest once more (a rollback: new settings, restarted workers)."""
    request.getfixturevalue(cache_kind)
    key, raw = make_key(alice)
    client = key_client(raw)
    assert client.get("/api/v1/me").status_code == 200  # cached under the old pepper's hash
    settings.API_KEY_PEPPERS = ["a-brand-new-pepper", *settings.API_KEY_PEPPERS]
    assert client.get("/api/v1/me").status_code == 200  # re-hashed under the new one
    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(api_key=ApiKey.objects.get(pk=key.pk))
    assert client.get("/api/v1/me").status_code == 401
    settings.API_KEY_PEPPERS = settings.API_KEY_PEPPERS[1:]
    assert client.get("/api/v1/me").status_code == 401
