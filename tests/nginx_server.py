"""Debian's nginx in front of a test's gunicorn, serving docs/nginx/keyhouse.conf as a reader
installs it, on loopback: TLS with a self-signed certificate, its own prefix, pid and logs, and
free ports instead of 443, 80 and gunicorn's 8000.

The main nginx.conf written here is Debian's http context (mime types, gzip, sendfile) minus
what belongs to the machine (the user, /run and /var/log paths, other sites). The site file
is the shipped one with its ports and absolute paths moved (move_site): each move must find
its text, so a change of the shipped file that the tests would no longer exercise fails them.
"""
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "docs" / "nginx" / "keyhouse.conf"
HOST_PLACEHOLDER = "${KEYHOUSE_HOST}"

MAIN_CONF = """\
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
{modules}
events {{
    worker_connections 768;
}}
http {{
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;
    access_log {prefix}/access.log;
    gzip on;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {sites}/*;
}}
"""


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if not found:
        raise RuntimeError("No nginx: `make nginx` installs Debian's (apt-get install nginx) where apt-get can run.")
    return found


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def self_signed(directory: Path, host: str) -> tuple[Path, Path]:
    """fullchain.pem and privkey.pem for `host`, as certbot names them."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "fullchain.pem", directory / "privkey.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN={host}", "-addext", f"subjectAltName=DNS:{host}",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    return cert, key


def move_site(text: str, *, https_port: int, http_port: int, upstream_port: int,
              paths: dict[str, str]) -> str:
    """The installed site file, with 443, 80 and 8000 replaced by free ports and absolute
    paths (certificates, logs, the ACME webroot) moved under the test's directory. IPv6
    listens go where the machine has no IPv6 loopback."""
    moves = [(r"listen (\[::\]:)?443 ", rf"listen \g<1>{https_port} "),
             (r"listen (\[::\]:)?80;", rf"listen \g<1>{http_port};"),
             (r"127\.0\.0\.1:8000;", f"127.0.0.1:{upstream_port};")]
    moves += [(re.escape(old), new.replace("\\", "\\\\")) for old, new in paths.items()]
    for pattern, replacement in moves:
        text, count = re.subn(pattern, replacement, text)
        if not count:
            raise AssertionError(f"the site file no longer has {pattern!r}: update tests/nginx_server.py")
    if not ipv6_loopback():
        text = re.sub(r"^\s*listen \[::\]:.*$", "", text, flags=re.M)
    return text


class NginxServer:
    """nginx -p PREFIX -c PREFIX/nginx.conf -g 'daemon off;' with the sites in `sites`."""

    def __init__(self, prefix: Path, sites: Path, https_port: int):
        self.prefix, self.sites, self.https_port = prefix, sites, https_port
        self.conf = prefix / "nginx.conf"
        self.process = None

    def _write_conf(self) -> None:
        modules = "include /etc/nginx/modules-enabled/*.conf;" if Path("/etc/nginx/modules-enabled").is_dir() else ""
        self.conf.write_text(MAIN_CONF.format(prefix=self.prefix, sites=self.sites, modules=modules))

    def command(self, *extra: str) -> list[str]:
        return [
            nginx_binary(),
            "-p",
            f"{self.prefix}/",
            "-e",
            str(self.prefix / "error.log"),
            "-c",
            str(self.conf),
            *extra,
        ]

    def start(self) -> "NginxServer":
        self.prefix.mkdir(parents=True, exist_ok=True)
        # nginx's workers run as nobody when the master is root: they must reach their temp dirs.
        self.prefix.chmod(0o755)
        self._write_conf()
        check = subprocess.run(self.command("-t"), capture_output=True, text=True, timeout=30)
        if check.returncode:
            raise RuntimeError(f"nginx -t refused the configuration:\n{check.stderr}")
        with open(self.prefix / "stderr.log", "w") as stderr:  # nginx keeps its own copy
            self.process = subprocess.Popen(self.command("-g", "daemon off;"), stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + 15
        context = unverified()
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with (socket.create_connection(("127.0.0.1", self.https_port), timeout=1) as raw,
                      context.wrap_socket(raw)):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("nginx did not start: " + (self.prefix / "error.log").read_text(errors="replace")[-2000:])

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: finish what is in flight
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def unverified() -> ssl.SSLContext:
    """TLS without checking the self-signed certificate: these tests are about the proxy."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
