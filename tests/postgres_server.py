"""A PostgreSQL of the test run's own (Debian's postgresql, which `make verify` installs when it
is missing): initdb in a temp folder, a free loopback port, fsync off. Tests that stop the
database mid-run never touch the machine's shared instance, and a machine with none (or with
no network at all) runs the live tests all the same."""
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.ports import free_port


def _bin() -> Path | None:
    """Debian keeps the server binaries off PATH, one folder per major version; elsewhere
    (Homebrew, other distributions) initdb is on PATH."""
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if debian:
        return Path(debian[-1])
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class OwnPostgres:
    """A throwaway cluster: initdb in a temp folder, as the postgres OS user when we are root."""

    def __init__(self):
        self.bin = _bin()
        if self.bin is None:
            raise RuntimeError("These tests need PostgreSQL's initdb (Debian: apt-get install postgresql; "
                               "macOS: brew install postgresql); `make verify` installs it where apt-get can.")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="keyhouse-pg-"))
        self.data = self.dir / "data"
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(self.bin / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args):
        subprocess.run([*self.as_user, *map(str, args)], check=True, capture_output=True, timeout=120)

    def start(self) -> "OwnPostgres":
        self._run(self.bin / "pg_ctl", "-D", self.data, "-l", self.dir / "log", "-w", "-t", "60", "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        return self

    def stop(self, mode="immediate"):
        """immediate: like a crash, open connections are cut without goodbye."""
        subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"],
                       capture_output=True, timeout=60)

    def destroy(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
