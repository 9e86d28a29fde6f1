"""A Redis of the test run's own (Debian's redis-server, which `make test` installs when it is
missing), on a free loopback port, keeping nothing on disk: tests that need a real Redis run on
a laptop with none, and never touch, nor are disturbed by, the machine's shared instance."""
import shutil
import socket
import subprocess
import time

from tests.ports import free_port


class OwnRedis:
    def __init__(self):
        self.port = free_port()
        self.process = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "OwnRedis":
        if shutil.which("redis-server") is None:
            raise RuntimeError("These tests need redis-server (Debian: apt-get install redis-server; "
                               "macOS: brew install redis); `make test` installs it where apt-get can.")
        self.process = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                         "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not self._answers():
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
        return self

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
