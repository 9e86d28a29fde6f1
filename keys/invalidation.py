"""Telling every worker that keys changed, through Redis pub/sub, and waiting until each one
has dropped its own copies (keys.cache): how a revocation takes effect at once although
workers answer most requests from their own memory, with no round trip to Redis.

Each worker process runs a listener thread subscribed to one channel; a worker keeps copies
only while its listener is subscribed. announce() publishes the changed key hashes and waits
for one acknowledgement per subscriber Redis counted, each sent after that worker dropped its
copies. A subscriber that never answers (a connection dead without Redis noticing yet) cannot
hold a copy past its API_KEY_LOCAL_SECONDS, and announce() waits that long at most.
"""
import logging
import os
import threading
import time
import uuid
import weakref

from django.conf import settings
from django.core.cache import caches

from core.metrics import INVALIDATION_TIMEOUTS
from core.redis_client import redis_client

logger = logging.getLogger(__name__)
CHANNEL = "keyhouse:keys-changed"
RECONNECT_SECONDS = 1.0
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
    and subscribes again. It stops when its cache backend is gone (settings changed)."""

    def __init__(self, backend, on_change):
        self.pid = os.getpid()
        self.live = False
        self._backend = weakref.ref(backend)
        self._redis = redis_client(backend)
        self.channel = _channel(backend, self._redis)
        self._on_change = on_change
        threading.Thread(target=self._run, name="key-invalidations", daemon=True).start()

    def _run(self) -> None:
        failing = False  # said once per outage, not once a second
        while self._backend() is not None:
            pubsub = self._redis.pubsub()
            try:
                pubsub.subscribe(self.channel)
                while self._backend() is not None:
                    message = pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        self.live, failing = True, False
                    elif message["type"] == "message":
                        self._apply(message["data"])
            except Exception:
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

    def _apply(self, data: bytes) -> None:
        ack, *key_hashes = data.decode().split()
        self._on_change(key_hashes)
        self._redis.pipeline().rpush(ack, 1).expire(ack, ACK_LIST_SECONDS).execute()


def listener(on_change) -> Listener:
    """This process's listener for the current cache, started on first use (a forked gunicorn
    worker inherits the object but not its thread)."""
    backend = caches["default"]
    found = backend.__dict__.get("keyhouse_listener")
    if found is None or found.pid != os.getpid():
        found = backend.keyhouse_listener = Listener(backend, on_change)
    return found


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
