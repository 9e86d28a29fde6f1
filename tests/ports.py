"""A free loopback port for a server a test starts (gunicorn, Redis, PostgreSQL, nginx)."""
import socket


def free_port() -> int:
    """A port the kernel just handed out and took back. Another process (xdist runs several test
    processes at once) may take it before the server binds it: rare, and the server's start then
    fails loudly rather than serving someone else's requests."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
