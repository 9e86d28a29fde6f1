"""Driving a URL for a few seconds: with wrk when it is installed (Debian's `wrk`), otherwise
with a small threaded generator in Python (slower, so its figures are only comparable with
each other). Both return requests per second, p50 and p99 latency, and the failures.

`headers` is one dict, or a list of dicts that successive requests take in turn (2,000 keys
in rotation): with wrk a Lua script reads them from a file, one request's headers a line."""
import http.client
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

# wrk's summary as one JSON line, with exact percentiles from its histogram.
WRK_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "non2xx": %d, "errors": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""
# Successive requests take the header sets of the file named by WRK_HEADERS in turn. Each wrk
# thread takes its own arc of the ring (so the threads do not ask for the same key together), and
# each run starts where the last one ended (WRK_START): runs shorter than the ring still use every
# key in turn. (Each run used to restart at the same offsets, so the warm-up never reached the
# keys past its first 1,000 requests and the measured windows met them for the first time.)
WRK_ROTATE = """
local sets, n, i = {}, 0, 0
local counter = 0
setup = function(thread)
  counter = counter + 1
  thread:set("index", counter)
end
init = function(args)
  for line in io.lines(os.getenv("WRK_HEADERS")) do
    local headers = {}
    for name, value in line:gmatch("([^\t:]+): ([^\t]+)") do headers[name] = value end
    n = n + 1
    sets[n] = headers
  end
  local threads = tonumber(os.getenv("WRK_THREADS")) or 1
  i = (tonumber(os.getenv("WRK_START")) or 0) + math.floor((tonumber(index) - 1) * n / threads)
end
request = function()
  i = i + 1
  return wrk.format(nil, nil, sets[i % n + 1])
end
"""


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non2xx: int
    errors: int


# Where each thread's next run starts in a rotation: it advances by what a thread sent.
_rotation = {"start": 0}


def generator() -> str:
    return "wrk" if shutil.which("wrk") else "python"


def run(url: str, headers: dict | list[dict], seconds: float, connections: int, threads: int = 2) -> Result:
    if generator() == "wrk":
        return _wrk(url, headers, seconds, connections, threads)
    return _python(url, headers, seconds, connections)


def _wrk(url, headers, seconds, connections, threads) -> Result:
    rotating = isinstance(headers, list)
    with tempfile.TemporaryDirectory(prefix="keyhouse-wrk-") as tmp:
        script, sets = Path(tmp) / "report.lua", Path(tmp) / "headers"
        script.write_text((WRK_ROTATE if rotating else "") + WRK_REPORT)
        args = ["wrk", f"-t{min(threads, connections)}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
                "--timeout", "10s", "-s", str(script)]
        if rotating:
            sets.write_text("".join("\t".join(f"{k}: {v}" for k, v in h.items()) + "\n" for h in headers))
        else:
            for name, value in headers.items():
                args += ["-H", f"{name}: {value}"]
        threads = min(threads, connections)
        out = subprocess.run([*args, url], capture_output=True, text=True, timeout=seconds + 30, check=True,
                             env={**os.environ, "WRK_HEADERS": str(sets), "WRK_THREADS": str(threads),
                                  "WRK_START": str(_rotation["start"])}).stdout
    line = next(line for line in out.splitlines() if line.startswith("BENCH "))
    data = json.loads(line[len("BENCH "):])
    if rotating:
        _rotation["start"] += data["requests"] // threads
    return Result(rps=data["requests"] / (data["duration_us"] / 1e6), p50_ms=data["p50_us"] / 1000,
                  p99_ms=data["p99_us"] / 1000, requests=data["requests"], non2xx=data["non2xx"],
                  errors=data["errors"])


def _python(url, headers, seconds, connections) -> Result:
    """One thread per connection, each sending requests back to back until the deadline."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    latencies: list[list[float]] = [[] for _ in range(connections)]
    failures = [[0, 0] for _ in range(connections)]  # non-2xx, socket errors
    start = time.perf_counter()
    deadline = start + seconds

    sets = headers if isinstance(headers, list) else [headers]

    start_turn = _rotation["start"]

    def worker(n):
        conn, turn = None, start_turn + n * len(sets) // connections
        while time.perf_counter() < deadline:
            turn += 1
            began = time.perf_counter()
            try:
                conn = conn or http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
                conn.request("GET", path, headers=sets[turn % len(sets)])
                response = conn.getresponse()
                response.read()
                if not 200 <= response.status < 400:
                    failures[n][0] += 1
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except OSError:
                failures[n][1] += 1
                conn = None
                continue
            latencies[n].append(time.perf_counter() - began)
        if conn:
            conn.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    _rotation["start"] += sum(len(per) for per in latencies) // connections
    every = sorted(x for per in latencies for x in per)
    if not every:
        return Result(0.0, 0.0, 0.0, 0, sum(f[0] for f in failures), sum(f[1] for f in failures))

    def pct(p):
        return every[min(len(every) - 1, int(p / 100 * len(every)))] * 1000

    return Result(rps=len(every) / elapsed, p50_ms=pct(50), p99_ms=pct(99), requests=len(every),
                  non2xx=sum(f[0] for f in failures), errors=sum(f[1] for f in failures))
