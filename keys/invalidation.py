"""Telling every worker that keys changed, through Redis pub/sub, and waiting until each one
has dropped its own copies (keys.cache): how a revocation takes effect at once although
workers answer most requests from their own memory, with no round trip to Redis.

Each worker process runs one listener thread subscribed to one channel, whatever its number of
threads or request contexts. announce() publishes the changed key hashes and waits for one
acknowledgement per subscriber Redis counted, each sent after that worker dropped its copies.

The listener pings Redis on its subscription every HEARTBEAT_SECONDS, and a worker serves its
copies only while Redis answered a ping sent within the last API_KEY_LOCAL_SECONDS (`fresh()`).
Redis answers a ping after every message published before it, so a fresh worker has applied
every change announced more than API_KEY_LOCAL_SECONDS ago: a subscriber that never answers (a
connection dead without Redis noticing yet) stops serving copies by then, and announce() waits
that long at most. Copies therefore need no short life of their own while the channel is up.
"""
import logging
import threading
import time
import uuid

from django.conf import settings
from django.core.cache import caches
from django.core.signals import setting_changed

from core.metrics import INVALIDATION_TIMEOUTS
from core.redis_client import cache_identity, redis_client

logger = logging.getLogger(__name__)
CHANNEL = "keyhouse:keys-changed"
RECONNECT_SECONDS = 1.0
# How often a listener proves its channel alive; well within API_KEY_LOCAL_SECONDS (0.5 s), so
# a slow answer or two does not send every request to Redis.
HEARTBEAT_SECONDS = 0.1
ACK_LIST_SECONDS = 10  # an acknowledgement list nobody reads (its announcer died) goes away
# Past a worker copy's longest life: however late the acknowledgements, the copies are gone.
WAIT_MARGIN_SECONDS = 0.1


def _channel(backend, redis) -> str:
    """Pub/sub channels span every database of a Redis: name the database in it, so that
    deployments sharing a Redis (and their acknowledgements) stay apart."""
    return backend.make_key(f"{CHANNEL}:{redis.connection_pool.connection_kwargs.get('db', 0)}")


class Listener:
    """A daemon thread subscribed to CHANNEL for one worker process and one cache. `live` is
    true while subscribed; on losing the channel it calls on_change(None) (drop every copy)
    and subscribes again. It stops when the cache settings change."""

    def __init__(self, backend, on_change):
        self.live = False
        self.answered = float("-inf")  # when the latest ping Redis answered was sent (monotonic)
        self.stopped = threading.Event()
        self._redis = redis_client(backend)
        self.channel = _channel(backend, self._redis)
        self._on_change = on_change
        threading.Thread(target=self._run, name="key-invalidations", daemon=True).start()

    def _run(self) -> None:
        failing = False  # said once per outage, not once a second
        while not self.stopped.is_set():
            pubsub = self._redis.pubsub()
            try:
                subscribed = time.monotonic()
                pubsub.subscribe(self.channel)
                pinged = 0.0
                while not self.stopped.is_set():
                    if self.live and time.monotonic() - pinged >= HEARTBEAT_SECONDS:
                        pinged = time.monotonic()
                        pubsub.ping(repr(pinged))
                    message = pubsub.get_message(timeout=HEARTBEAT_SECONDS)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        self.live, failing, self.answered = True, False, subscribed
                    elif message["type"] == "pong":
                        self.answered = max(self.answered, float(message["data"]))
                    elif message["type"] == "message":
                        self._apply(message["data"])
            except Exception:
                if self.stopped.is_set():
                    return  # the settings changed under it (tests): nothing to report
                if not failing:
                    logger.warning("No key-invalidation channel; keys come from Redis until it is back.",
                                   exc_info=True)
                failing = True
                if self.live:  # changes may have been missed: no copy made meanwhile can be trusted
                    self.live = False
                    self._on_change(None)
                time.sleep(RECONNECT_SECONDS)
            finally:
                self.live = False
                pubsub.close()

    def fresh(self) -> bool:
        """Whether this worker has applied every change announced API_KEY_LOCAL_SECONDS ago."""
        return self.live and time.monotonic() - self.answered < settings.API_KEY_LOCAL_SECONDS

    def _apply(self, data: bytes) -> None:
        ack, *key_hashes = data.decode().split()
        self._on_change(key_hashes)
        self._redis.pipeline().rpush(ack, 1).expire(ack, ACK_LIST_SECONDS).execute()


_listeners: dict[tuple, Listener] = {}
_listeners_lock = threading.Lock()


def listener(on_change) -> Listener:
    """This process's listener for the current cache, started on first use (a forked gunicorn
    worker inherits the registry but not the threads: the process id is part of its key)."""
    backend = caches["default"]
    identity = (*cache_identity(backend), backend.key_prefix, backend.version)
    found = _listeners.get(identity)
    if found is None:
        with _listeners_lock:
            found = _listeners.get(identity)
            if found is None:
                found = _listeners[identity] = Listener(backend, on_change)
    return found


def _stop_listeners(*, setting, **kwargs) -> None:
    if setting == "CACHES":
        with _listeners_lock:
            for stale in _listeners.values():
                stale.stopped.set()
            _listeners.clear()


setting_changed.connect(_stop_listeners)


def announce(key_hashes) -> None:
    """Publish the changed hashes; return once every subscribed worker dropped its copies, or
    once no copy can be left anyway."""
    backend = caches["default"]
    redis = redis_client(backend)
    ack = backend.make_key(f"{CHANNEL}:ack:{uuid.uuid4().hex}")
    deadline = time.monotonic() + settings.API_KEY_LOCAL_SECONDS + WAIT_MARGIN_SECONDS
    receivers = redis.publish(_channel(backend, redis), " ".join([ack, *key_hashes]))
    for answered in range(receivers):
        # BLPOP's timeout 0 means "forever": never pass less than 10 ms.
        if redis.blpop([ack], timeout=max(0.01, deadline - time.monotonic())) is None:
            INVALIDATION_TIMEOUTS.inc()
            logger.warning("%d of %d workers did not confirm a key change; their copies expired instead.",
                           receivers - answered, receivers)
            break
    redis.delete(ack)
