"""config.gunicorn_worker on a real gunicorn with one worker of one thread: a connection whose
head is still coming in, on any of the paths to a thread, never holds that thread."""
import json
import socket
import time

import pytest

from core.crypto import mask_keys
from core.errors import PROBLEMS
from tests.live import live_gunicorn

HEADER_TIMEOUT = 2
HEAD = b"GET /api/v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with live_gunicorn(tmp_path_factory.mktemp("worker"), workers=1, cache_url="",
                       env={"GUNICORN_THREADS": "1", "GUNICORN_HEADER_TIMEOUT": str(HEADER_TIMEOUT)}) as live:
        yield live


def connect(server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=HEADER_TIMEOUT + 3)


def response(sock) -> bytes:
    """One response to a keyless GET /api/v1/me: its head and its JSON body."""
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def still_waiting(sock) -> bool:
    """Open and unanswered: the server has neither replied on it nor cut it off."""
    sock.setblocking(False)
    try:
        sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return True
    finally:
        sock.settimeout(HEADER_TIMEOUT + 3)
    return False


def answered_while_waiting(server, waiting: list[socket.socket]) -> bool:
    """A new connection gets its 401 while the connections part way through their head still
    wait, none cut off. The one thread held by one of them would serve nothing else until the
    header timeout cut it off; checked by what happened first, not by how long it took."""
    with connect(server) as sock:
        sock.sendall(HEAD)
        status = response(sock).split(b" ", 2)[1]
    return status == b"401" and all(still_waiting(other) for other in waiting)


def assert_the_cut_short_head_holds_no_thread(server, sock) -> None:
    """sock's next request has sent the first bytes of its head: another connection is answered
    meanwhile, and sock's request once the rest of its head comes."""
    time.sleep(0.2)
    assert answered_while_waiting(server, [sock])
    sock.sendall(HEAD[10:])
    assert response(sock).startswith(b"HTTP/1.1 401")


def test_new_connections_part_way_through_their_head_or_silent_hold_no_thread(server):
    slow = [connect(server) for _ in range(5)]
    silent = connect(server)
    try:
        for sock in slow:
            sock.sendall(HEAD[:10])
        assert answered_while_waiting(server, [*slow, silent])
        for sock in slow:
            sock.sendall(HEAD[10:])
        assert all(response(sock).startswith(b"HTTP/1.1 401") for sock in slow)
    finally:
        for sock in [*slow, silent]:
            sock.close()


def test_a_kept_alive_connection_sending_its_next_head_slowly_holds_no_thread(server):
    with connect(server) as kept:
        kept.sendall(HEAD)
        assert response(kept).startswith(b"HTTP/1.1 401")
        kept.sendall(HEAD[:10])
        assert_the_cut_short_head_holds_no_thread(server, kept)


def test_a_pipelined_request_whose_head_is_cut_short_holds_no_thread(server):
    with connect(server) as pipelined:
        pipelined.sendall(HEAD + HEAD[:10])
        assert response(pipelined).startswith(b"HTTP/1.1 401")
        assert_the_cut_short_head_holds_no_thread(server, pipelined)


def test_a_head_not_complete_within_the_header_timeout_is_cut_off(server):
    with connect(server) as slow:
        opened = time.monotonic()
        slow.sendall(HEAD[:10])
        assert slow.recv(1) == b""  # closed by the server, before the socket's own timeout
        assert time.monotonic() - opened >= HEADER_TIMEOUT  # and not before its time


def test_a_head_with_a_bare_line_feed_is_refused_without_waiting_for_more(server):
    with connect(server) as sock:
        sock.sendall(b"GET /api/v1/me HTTP/1.1\nHost: 127.0.0.1\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 400")


def test_a_head_over_64_kib_is_refused_at_once_and_holds_no_thread(server):
    """Hostile heads cost a bounded buffer: refused as soon as they pass 64 KiB, not read by a
    thread, with the answer saying what to change."""
    with connect(server) as sock:
        sock.sendall(b"GET /api/v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Filler: " + b"a" * 70_000)
        answer = response(sock)
        assert answer.startswith(b"HTTP/1.1 431 ") and b"Content-Type: application/problem+json" in answer
        body = json.loads(answer.partition(b"\r\n\r\n")[2])
        row = PROBLEMS["request_header_too_large"]
        assert (body["code"], body["status"], body["title"]) == ("request_header_too_large", row.status, row.title)
        assert body["type"] == "http://127.0.0.1/api/problems/request_header_too_large"
        assert body["instance"] == "/api/v1/me"
        assert sock.recv(1) == b""  # and closed
    assert answered_while_waiting(server, [])


def test_a_head_sent_a_byte_at_a_time_is_still_answered(server):
    with connect(server) as sock:
        for byte in HEAD:
            sock.send(bytes([byte]))
        assert response(sock).split(b" ", 2)[1] == b"401"


def problem_of(answer: bytes) -> tuple[int, dict]:
    """The status of a raw answer and its body, after checking the body is a problem."""
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"\r\nContent-Type: application/problem+json\r\n" in head, head
    return int(head.split(b" ", 2)[1]), json.loads(body)


@pytest.mark.parametrize("head, status, code, instance", [
    (b"NOT A REQUEST LINE AT ALL\r\nHost: {host}\r\n\r\n", 400, "bad_request", ""),
    (b"GET /api/v1/me HTTP/1.1\r\nHost: {host}\r\nBad\x01Name: x\r\n\r\n", 400, "bad_request", "/api/v1/me"),
    (b"GET /api/v1/" + b"a" * 5000 + b" HTTP/1.1\r\nHost: {host}\r\n\r\n", 414, "uri_too_long", ""),
    (b"GET /api/v1/me?q=1 HTTP/1.1\r\nHost: {host}\r\n" + b"X-N: 1\r\n" * 101 + b"\r\n", 431,
     "request_header_too_large", "/api/v1/me"),
    (b"GET /api/v1/me HTTP/1.1\r\nHost: {host}\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431,
     "request_header_too_large", "/api/v1/me"),
])
def test_what_gunicorn_refuses_itself_is_a_problem_too(server, head, status, code, instance):
    """A request line or header gunicorn cannot parse, or over its limits, is answered before
    Django: the same problem as every other answer, not gunicorn's HTML page."""
    with connect(server) as sock:
        sock.sendall(head.replace(b"{host}", f"127.0.0.1:{server.port}".encode()))
        answered, body = problem_of(response(sock))
    row = PROBLEMS[code]
    assert answered == status == body["status"] == row.status
    assert (body["code"], body["title"], body["instance"]) == (code, row.title, instance)
    assert body["type"] == f"http://127.0.0.1:{server.port}/api/problems/{code}" and body["detail"]
    assert answered_while_waiting(server, [])


def test_a_problem_answered_before_django_names_no_host_it_does_not_serve(server):
    """The `type` URL is on the host the request named only when Keyhouse serves that host."""
    with connect(server) as sock:
        sock.sendall(b"GET /api/v1/me HTTP/1.1\r\nHost: evil.example\r\n" + b"X-N: 1\r\n" * 101 + b"\r\n")
        _, body = problem_of(response(sock))
    assert body["type"] == "http://127.0.0.1/api/problems/request_header_too_large"


def test_a_key_pasted_into_the_path_is_not_repeated_in_instance(server):
    key = "sk_live_" + "Ab1" * 13
    with connect(server) as sock:
        sock.sendall(f"GET /api/v1/{key} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode() + b"X-N: 1\r\n" * 101 + b"\r\n")
        _, body = problem_of(response(sock))
    assert body["instance"] == "/api/v1/" + mask_keys(key) and key not in json.dumps(body)
