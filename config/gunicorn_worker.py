"""gunicorn's gthread worker, reading each request's head in its event loop.

gthread gives a connection to a pool thread once its first byte is in, and the thread reads
the rest of the head blocking, with no time limit (gunicorn 27 has no header timeout): a
client sending a header line a second holds a thread as long as it likes, and as many of
them as there are threads stall the worker. Here the event loop reads the head without
blocking and a thread gets the connection only once the head is complete, so a slow or idle
connection costs a socket and its bytes, never a thread; one whose head is not complete
within GUNICORN_HEADER_TIMEOUT seconds is closed. The body is still read by the thread: the
API's bodies are small JSON, and a reverse proxy buffers slow ones (docs/serving.md).
"""
import os
import re
import selectors
import socket
import threading
import time
from collections import deque
from functools import partial

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

# A head ends at a blank line; a bare LF breaks it, and gunicorn's parser answers 400 at once.
HEAD_END = re.compile(rb"\r\n\r\n|(?<!\r)\n")
# nginx's default takes heads up to 32 KiB and browsers send a few: a head past 64 KiB is
# refused here, at once, before it holds a thread or more memory (1,000 connections hold at most
# 64 MiB per worker). Handed to the parser, its rest would be read by a thread, blocking.
MAX_HEAD_BYTES = 64 * 1024
READ_BYTES = 64 * 1024
TOO_LARGE_DETAIL = "The request head is over 64 KiB: send fewer or shorter headers."
_handling = threading.local()  # the head of the request this pool thread is handling


class _Written:
    """Stands in for the socket while gunicorn's handle_error writes its HTML answer, keeping it:
    the status it chose is read from it, and only the body is replaced."""

    def __init__(self):
        self.data = b""

    def gettimeout(self):
        return 0.0

    def sendall(self, data):
        self.data += data


class ProblemAnswers:
    """A worker mixin: gunicorn's own answers as the API's problems (see handle_error)."""

    def handle_error(self, req, client, addr, exc):
        """gunicorn's own answers (a request line or header it cannot parse, a request line or
        headers over its limits) as the API's problems rather than HTML: gunicorn still logs
        and picks the status, config.gunicorn_problems writes the body."""
        from config.gunicorn_problems import problem_answer

        written = _Written()
        super().handle_error(req, written, addr, exc)
        status = int(written.data.split(b" ", 2)[1]) if written.data.startswith(b"HTTP/") else 500
        answer = problem_answer(status, getattr(_handling, "head", None), self.cfg) or written.data
        try:
            util.write_nonblock(client, answer)
        except Exception:  # the client is gone: nothing to tell it
            self.log.debug("Failed to send error message.")


class HeadReadingWorker(ProblemAnswers, ThreadWorker):
    header_timeout = float(os.environ.get("GUNICORN_HEADER_TIMEOUT", "10"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reading_conns = deque()  # connections whose head is coming in, oldest deadline first
        # TLS, uWSGI and HTTP/2 prior knowledge read their own preamble first: plain gthread.
        self.reads_heads = (not self.cfg.is_ssl and self.cfg.protocol == "http"
                            and self.cfg.http2_cleartext == "off")

    def enqueue_req(self, conn):
        """Every path to the thread pool (a new connection, a kept-alive one readable again,
        one with a pipelined request already read) passes here: wait for the whole head."""
        if not self.reads_heads:
            return super().enqueue_req(conn)
        held = conn.parser.unreader.take_buffered() if conn.parser else b""
        conn.head = bytearray()  # appended to in place: a head sent a byte at a time costs no copies
        conn.sock.setblocking(False)
        conn.timeout = time.monotonic() + self.header_timeout
        self.reading_conns.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.read_head, conn))
        self.read_head(conn, conn.sock, held)

    def read_head(self, conn, _sock, received: bytes = b""):
        seen = len(conn.head)
        try:
            chunk = received or conn.sock.recv(READ_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        conn.head += chunk
        complete = HEAD_END.search(conn.head, max(0, seen - 3)) is not None
        if chunk and not complete and len(conn.head) < MAX_HEAD_BYTES:
            return
        self.poller.unregister(conn.sock)
        self.reading_conns.remove(conn)
        if not complete:  # the client went away, or the head is too large
            if chunk:
                self.refuse_too_large(conn.sock, bytes(conn.head))
            self.nr_conns -= 1
            conn.close()
            return
        super().enqueue_req(conn)

    def refuse_too_large(self, sock, head: bytes) -> None:
        """Answer 431, then read what the client already sent: closing with unread bytes would
        reset the connection, and the client might lose the answer with it."""
        from config.gunicorn_problems import problem_answer  # Django's, loaded by the worker, not the arbiter

        try:
            sock.send(problem_answer(431, head, self.cfg, TOO_LARGE_DETAIL))
            sock.shutdown(socket.SHUT_WR)
            for _ in range(16):
                if not sock.recv(READ_BYTES):
                    break
        except OSError:  # nothing more to read now, or the client is gone
            pass

    def handle(self, conn):
        head, conn.head = getattr(conn, "head", None), None
        if head:
            conn.sock.setblocking(True)
            conn.init()
            conn.parser.unreader.unread(bytes(head))
        _handling.head = bytes(head) if head else None
        try:
            return super().handle(conn)
        finally:
            _handling.head = None

    def murder_pending(self):
        super().murder_pending()
        now = time.monotonic()
        while self.reading_conns and self.reading_conns[0].timeout <= now:
            conn = self.reading_conns.popleft()
            self.poller.unregister(conn.sock)
            self.nr_conns -= 1
            conn.close()

    def _cap_keepalive(self, deadline):
        """A stopping worker gives a head still coming in as long as a kept-alive connection."""
        super()._cap_keepalive(deadline)
        for conn in self.reading_conns:
            conn.timeout = min(conn.timeout, deadline)
