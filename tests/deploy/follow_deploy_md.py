"""Follow docs/deploy.md on a fresh clone, as a reader types it, under a temporary root.

Each block of the page marked `<!-- deploy-test: run -->` runs as written, in order, in one
bash. What differs is said in the page's "How this page is tested" and done here, nowhere
else: absolute paths move under the temporary root (move_paths), the test's values replace the
reader's in a few named places (REWRITES), and stand-ins on PATH take the place of the
commands a test cannot run for real (write_standins): there is no systemd, no `keyhouse` user
and no public DNS. The stand-ins call back into this module:

    python -m tests.deploy.follow_deploy_md ROOT systemctl|nginx|apt-get ARGS...
"""
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.nginx_server import NginxServer, move_site

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "deploy.md"
MARKED = re.compile(r"<!-- deploy-test: (?P<how>[^>]*?) -->\n```(?P<lang>\w*)\n(?P<code>.*?)^```$", re.S | re.M)
FENCE = re.compile(r"^```(\w*)$", re.M)
# Absolute paths of the page that the test keeps under its own root.
MOVED = ("/srv/keyhouse", "/etc/keyhouse", "/etc/nginx", "/etc/systemd/system", "/etc/letsencrypt", "/var/www/html")
MOVED_RE = re.compile("|".join(re.escape(path) for path in MOVED) + r"(?=/|\b)")
SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def blocks(doc: str) -> list[tuple[str, str, str]]:
    """(how, language, code) of every marked block. Every sh block must be marked, so a
    command added to the page without saying whether the test runs it fails the test."""
    marked = [(m["how"], m["lang"], m["code"]) for m in MARKED.finditer(doc)]
    opening = [lang for i, lang in enumerate(FENCE.findall(doc)) if i % 2 == 0]
    unmarked = opening.count("sh") - sum(lang == "sh" for _, lang, _ in marked)
    if unmarked:
        raise AssertionError(f"{unmarked} sh block(s) of docs/deploy.md have no <!-- deploy-test: ... --> mark")
    return marked


def move_paths(text: str, root: Path) -> str:
    return MOVED_RE.sub(lambda m: f"{root}{m[0]}", text)


def rewrite(code: str, rewrites: dict[str, str], used: set[str]) -> str:
    for old, new in rewrites.items():
        if old in code:
            used.add(old)
            code = code.replace(old, new)
    return code


def script(doc: str, root: Path, rewrites: dict[str, str]) -> str:
    """The bash script of the page's runnable blocks; every rewrite must find its text."""
    used: set[str] = set()
    parts = ["set -euo pipefail"]
    runnable = [(lang, code) for how, lang, code in blocks(doc) if how == "run"]
    for number, (lang, code) in enumerate(runnable, 1):
        assert lang == "sh", f"runnable block {number} of docs/deploy.md is {lang!r}, not sh"
        parts.append(f"echo '### docs/deploy.md, runnable block {number} of {len(runnable)}' >&2")
        parts.append(move_paths(rewrite(code, rewrites, used), root))
    missing = set(rewrites) - used
    if missing:
        raise AssertionError(f"docs/deploy.md no longer has {sorted(missing)}: update the test's rewrites")
    return "\n".join(parts) + "\n"


def files_shown(doc: str) -> dict[str, str]:
    """{path: text shown on the page} of the blocks marked `file PATH`."""
    return {how.removeprefix("file ").strip(): code for how, _, code in blocks(doc) if how.startswith("file ")}


# ---------------------------------------------------------------------------------------------
# Stand-ins

SH_STANDINS = {
    # No keyhouse user or group here: files stay the test's user's.
    "adduser": "exit 0",
    "chown": "exit 0",
    "chgrp": "exit 0",
    # runuser -u USER -- COMMAND...: the command, as the test's user.
    "runuser": 'while [ "$#" -gt 0 ] && [ "$1" != -- ]; do shift; done; shift; exec "$@"',
    # certbot certonly ... -d HOST: a self-signed certificate where certbot puts its own.
    "certbot": """host=
while [ "$#" -gt 0 ]; do [ "$1" = -d ] && host=$2; shift; done
dir={root}/etc/letsencrypt/live/$host
mkdir -p "$dir"
exec openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$host" -addext "subjectAltName=DNS:$host" \\
    -keyout "$dir/privkey.pem" -out "$dir/fullchain.pem" 2>/dev/null""",
    # curl https://HOST/...: to the test's nginx port, trusting the self-signed certificate.
    "curl": 'exec /usr/bin/curl --connect-to "{host}:443:127.0.0.1:{https_port}" '
            '--cacert "{root}/etc/letsencrypt/live/{host}/fullchain.pem" "$@"',
}
PY_STANDINS = ("systemctl", "nginx", "apt-get")


def write_standins(root: Path, settings: dict) -> Path:
    """Executables for PATH, ahead of the real ones; settings go to ROOT/deploy.json."""
    (root / "deploy.json").write_text(json.dumps(settings))
    bin_dir = root / "standins"
    bin_dir.mkdir(exist_ok=True)
    for name, body in SH_STANDINS.items():
        (bin_dir / name).write_text("#!/bin/sh\n" + body.format(root=root, **settings) + "\n")
    for name in PY_STANDINS:
        # -P: this module from this checkout, whatever directory the page has cd'd into.
        (bin_dir / name).write_text(
            f"#!/bin/sh\nPYTHONPATH={shlex.quote(str(ROOT))} exec {shlex.quote(sys.executable)} "
            f'-P -m tests.deploy.follow_deploy_md {shlex.quote(str(root))} {name} "$@"\n'
        )
    for path in bin_dir.iterdir():
        path.chmod(0o755)
    return bin_dir


def say(message: str) -> None:
    print(f"[deploy test] {message}", file=sys.stderr, flush=True)


def apt_get(root: Path, args: list[str]) -> int:
    if args == ["update"]:
        say("apt-get update: skipped, the machine's package lists are used")
        return 0
    if "install" not in args:
        say(f"apt-get {' '.join(args)}: not supported by the stand-in")
        return 1
    packages = [a for a in args[args.index("install") + 1:] if not a.startswith("-")]
    missing = [p for p in packages if subprocess.run(
        ["dpkg-query", "-W", "-f=${db:Status-Status}", p], capture_output=True, text=True).stdout != "installed"]
    if not missing:
        return 0
    if os.geteuid() != 0:
        say(f"not installed: {' '.join(missing)}; as root: apt-get install -y {' '.join(missing)}")
        return 1
    say(f"apt-get install -y {' '.join(missing)}")
    install = ["apt-get", "install", "-y", "-qq", *missing]
    if subprocess.run(install, stdout=subprocess.DEVNULL).returncode == 0:
        return 0
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    return subprocess.run(install, stdout=subprocess.DEVNULL).returncode


# nginx: the sites of ROOT/etc/nginx/sites-enabled, their ports and paths moved, under the test's
# own main configuration (tests/nginx_server.py).

def _nginx(root: Path) -> NginxServer:
    settings = json.loads((root / "deploy.json").read_text())
    prefix = root / "nginx"
    sites = prefix / "sites"
    sites.mkdir(parents=True, exist_ok=True)
    for old in sites.iterdir():
        old.unlink()
    for site in sorted((root / "etc" / "nginx" / "sites-enabled").iterdir()):
        (sites / site.name).write_text(move_site(
            site.read_text(), https_port=settings["https_port"], http_port=settings["http_port"],
            upstream_port=settings["app_port"],
            paths={"/etc/letsencrypt/": f"{root}/etc/letsencrypt/", "/var/log/nginx/": f"{prefix}/",
                   "/var/www/html": f"{root}/var/www/html"}))
    server = NginxServer(prefix, sites, settings["https_port"])
    server._write_conf()
    return server


def nginx(root: Path, args: list[str]) -> int:
    if args != ["-t"]:
        say(f"nginx {' '.join(args)}: not supported by the stand-in")
        return 1
    return subprocess.run(_nginx(root).command("-t")).returncode


def _read_pid(pid_file: Path) -> int | None:
    """The pid in the file if that process runs (nginx -t leaves an empty file)."""
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def _nginx_pid(root: Path) -> int | None:
    return _read_pid(root / "nginx" / "nginx.pid")


def _nginx_service(root: Path, verb: str) -> int:
    server = _nginx(root)
    running = _nginx_pid(root)
    if verb == "stop":
        return subprocess.run(server.command("-s", "quit")).returncode if running else 0
    if running and verb in ("reload", "restart"):
        return subprocess.run(server.command("-s", "reload")).returncode
    server.prefix.chmod(0o755)
    started = subprocess.run(server.command(), capture_output=True, text=True)  # daemonizes
    if started.returncode:
        say(f"nginx did not start: {started.stderr}")
    return started.returncode


# systemd: a unit's ExecStart with its WorkingDirectory, Environment and EnvironmentFile.

def unit_file(root: Path, name: str) -> dict[str, list[str]]:
    path = root / "etc" / "systemd" / "system" / (name if name.endswith(".service") else f"{name}.service")
    values: dict[str, list[str]] = {}
    section = ""
    for line in move_paths(path.read_text(), root).splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        values.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return values


def environment_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and line[0] not in "#;" and "=" in line:
            key, _, value = line.partition("=")
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            env[key.strip()] = value
    return env


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its long-gone parent's init) is not running.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _pid(root: Path, name: str) -> int | None:
    return _read_pid(root / "run" / f"{name}.pid")


def _start(root: Path, name: str) -> int:
    if _pid(root, name):
        return 0
    unit = unit_file(root, name)
    service = lambda key, default="": unit.get(f"Service.{key}", [default])[-1]  # noqa: E731
    env = {"PATH": SYSTEMD_PATH, "LANG": "C.UTF-8"}
    for entry in unit.get("Service.EnvironmentFile", []):
        optional, path = entry.startswith("-"), Path(entry.lstrip("-"))
        if path.exists() or not optional:
            env.update(environment_file(path))
    for entry in unit.get("Service.Environment", []):
        for assignment in shlex.split(entry):
            key, _, value = assignment.partition("=")
            env[key] = value
    run = root / "run"
    run.mkdir(exist_ok=True)
    (root / "journal").mkdir(exist_ok=True)
    notify = None
    if service("Type", "simple") == "notify":
        notify_path = run / f"{name}.notify"
        notify_path.unlink(missing_ok=True)
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(str(notify_path))
        env["NOTIFY_SOCKET"] = str(notify_path)
    with open(root / "journal" / f"{name}.log", "a") as journal:  # the service keeps its own copy
        process = subprocess.Popen(shlex.split(service("ExecStart")), cwd=service("WorkingDirectory", "/"), env=env,
                                   stdin=subprocess.DEVNULL, stdout=journal, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    (run / f"{name}.pid").write_text(str(process.pid))
    if notify is None:
        say(f"started {name} (pid {process.pid})")
        return 0
    deadline = time.monotonic() + 90  # systemd's TimeoutStartSec
    notify.settimeout(0.5)
    while time.monotonic() < deadline:
        try:
            if "READY=1" in notify.recv(4096).decode().splitlines():
                say(f"started {name} (pid {process.pid}), ready")
                return 0
        except TimeoutError:
            if process.poll() is not None:
                break
    say(f"{name} did not become ready; its log: {root / 'journal' / f'{name}.log'}")
    return 1


def _stop(root: Path, name: str) -> int:
    pid = _pid(root, name)
    if not pid:
        return 0
    unit = unit_file(root, name)
    sig = getattr(signal, unit.get("Service.KillSignal", ["SIGTERM"])[-1])
    timeout = float(unit.get("Service.TimeoutStopSec", ["90"])[-1].rstrip("s"))
    os.killpg(pid, sig)  # KillMode=control-group: every process of the unit
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        os.killpg(pid, signal.SIGKILL)
    say(f"stopped {name}")
    return 0


def _reload(root: Path, name: str) -> int:
    pid = _pid(root, name)
    if not pid:
        say(f"{name} is not running")
        return 1
    command = (
        unit_file(root, name)["Service.ExecReload"][-1].replace("${MAINPID}", str(pid)).replace("$MAINPID", str(pid))
    )
    return subprocess.run(shlex.split(command)).returncode


def systemctl(root: Path, args: list[str]) -> int:
    verb, *rest = args
    flags = [a for a in rest if a.startswith("-")]
    units = [a.removesuffix(".service") for a in rest if not a.startswith("-")]
    if verb == "daemon-reload":
        return 0
    if verb == "enable":
        if flags != ["--now"]:
            return 0  # enabling for the next boot means nothing here
        verb = "start"
    status = 0
    for name in units:
        if name == "nginx":
            status |= _nginx_service(root, verb)
        elif verb == "start":
            status |= _start(root, name)
        elif verb == "stop":
            status |= _stop(root, name)
        elif verb == "restart":
            status |= _stop(root, name) or _start(root, name)
        elif verb == "reload":
            status |= _reload(root, name)
        else:
            say(f"systemctl {verb}: not supported by the stand-in")
            return 1
    return status


def stop_everything(root: Path) -> None:
    """The test's teardown: every unit the page started, and nginx."""
    if (root / "run").is_dir():
        for pid_file in (root / "run").glob("*.pid"):
            _stop(root, pid_file.stem)
    if (root / "nginx" / "nginx.conf").exists() and _nginx_pid(root):
        subprocess.run(NginxServer(root / "nginx", root / "nginx" / "sites", 0).command("-s", "quit"))


def main(argv: list[str]) -> int:
    root, name, *args = argv
    # The real commands from here on: the stand-ins' directory leaves PATH.
    os.environ["PATH"] = ":".join(p for p in os.environ["PATH"].split(":") if p != str(Path(root) / "standins"))
    handler = {"systemctl": systemctl, "nginx": nginx, "apt-get": apt_get}[name]
    return handler(Path(root), args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
