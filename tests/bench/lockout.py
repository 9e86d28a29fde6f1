"""What a password-guessing flood costs the API's keyed callers (docs/security.md).

One real gunicorn (2 workers of 4 threads, the shipped settings: Argon2, the sign-in lockout), on
loopback. A client calls GET /api/v1/me with a key, one request at a time, while an attacker
posts wrong passwords to /accounts/login/ on ATTACKERS connections:

    no attack     the client alone
    page views    control: the same connections only load the sign-in page, no password
    locked out    the attacker guesses one username's password: after 20 guesses that
                  username is locked at its address, and each further guess is refused
                  without hashing
    spraying      the attacker guesses a different username each time: no username reaches
                  20, so every guess is hashed (the lockout's known gap, docs/security.md)

Run: .venv/bin/python -m tests.bench.lockout  (BENCH_SECONDS, BENCH_ATTACKERS, BENCH_ROUNDS override)
"""
import http.client
import os
import re
import statistics
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

from tests.html import select_one
from tests.live import live_gunicorn

SECONDS = float(os.environ.get("BENCH_SECONDS", "20"))
ATTACKERS = int(os.environ.get("BENCH_ATTACKERS", "4"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000 if ordered else float("nan")


def call(port: int, method: str, path: str, headers: dict, body: str | None = None) -> tuple[int, dict, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode(errors="replace")
    finally:
        conn.close()


class Attacker:
    """Wrong passwords on the sign-in form, with a real CSRF cookie and token, until stopped;
    mode "views" only loads the form, "locked" guesses one username, "spray" a new one each time."""

    def __init__(self, port: int, mode: str):
        self.port, self.mode = port, mode
        self.stop = threading.Event()
        self.first_refusal = threading.Event()
        self.latencies = {200: [], 429: []}
        self.lock = threading.Lock()

    def run(self, n: int) -> None:
        _, headers, page = call(self.port, "GET", "/accounts/login/", {})
        cookie = re.search(r"csrftoken=([^;]+)", headers["Set-Cookie"]).group(1)
        token = select_one(page, 'input[name="csrfmiddlewaretoken"]')["value"]
        sent = 0
        while not self.stop.is_set():
            username = f"sprayed-{n}-{sent}" if self.mode == "spray" else "victim"
            body = urlencode({"csrfmiddlewaretoken": token, "username": username, "password": f"guess {n} {sent}"})
            began = time.perf_counter()
            if self.mode == "views":
                status = call(self.port, "GET", "/accounts/login/", {})[0]
            else:
                status = call(self.port, "POST", "/accounts/login/", {
                    "Cookie": f"csrftoken={cookie}", "Content-Type": "application/x-www-form-urlencoded"}, body)[0]
            with self.lock:
                self.latencies.setdefault(status, []).append(time.perf_counter() - began)
            if status == 429:
                self.first_refusal.set()
            sent += 1

    def __enter__(self):
        self.threads = [threading.Thread(target=self.run, args=(n,)) for n in range(ATTACKERS)]
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)


def client(port: int, key: str, seconds: float) -> list[float]:
    latencies, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        began = time.perf_counter()
        status = call(port, "GET", "/api/v1/me", {"API-Key": key})[0]
        assert status == 200, status
        latencies.append(time.perf_counter() - began)
    return latencies


def scenario(port: int, key: str, mode: str | None) -> tuple[list[float], Attacker | None]:
    if mode is None:
        return client(port, key, SECONDS), None
    with Attacker(port, mode) as attacker:
        if mode == "locked":
            attacker.first_refusal.wait(timeout=300)
        else:
            time.sleep(1)
        return client(port, key, SECONDS), attacker


SCENARIOS = [("no attack", None), ("page views", "views"), ("locked out", "locked"), ("spraying", "spray")]


def main() -> None:
    rounds: list[dict] = []
    # collectstatic: the sign-in page names its files by hash
    with (tempfile.TemporaryDirectory() as tmp,
          live_gunicorn(Path(tmp), workers=2, cache_url="", collectstatic=True) as server):
        key = server.member_key("reader", "Bench", "member")
        server.manage("addmember", "victim", "--company", "Bench", "--role", "member")
        client(server.port, key, 2)  # warm-up: workers, key cache, connections
        for _ in range(ROUNDS):  # interleaved, so that the machine's noise falls on every row alike
            rounds.append({label: scenario(server.port, key, mode) for label, mode in SCENARIOS})

    print(f"{ATTACKERS} attacking connections, 1 keyed client, {ROUNDS} rounds of {SECONDS:.0f} s per scenario, "
          f"gunicorn 2 workers of 4 threads, Argon2, {os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.1f})")
    print("| scenario | /api/v1/me p50, min / median over rounds | p50 / page views' p50, min / median | p99 (median) "
          "| attacker: hashed (p50) | refused 429 (p50) |")
    print("|---|---|---|---|---|---|")
    for label, _ in SCENARIOS:
        p50s = [pct(r[label][0], 50) for r in rounds]
        ratios = [pct(r[label][0], 50) / pct(r["page views"][0], 50) for r in rounds]
        p99 = statistics.median(pct(r[label][0], 99) for r in rounds)
        answered = [x for r in rounds if r[label][1] for x in r[label][1].latencies.get(200, [])]
        refused = [x for r in rounds if r[label][1] for x in r[label][1].latencies.get(429, [])]
        hashed = f"{len(answered)} ({pct(answered, 50):.0f} ms)" if label in ("locked out", "spraying") else ""
        print(f"| {label} | {min(p50s):.1f} / {statistics.median(p50s):.1f} ms | {min(ratios):.2f} / "
              f"{statistics.median(ratios):.2f} | {p99:.1f} ms | {hashed} | "
              f"{f'{len(refused)} ({pct(refused, 50):.1f} ms)' if refused else ''} |")


if __name__ == "__main__":
    main()
