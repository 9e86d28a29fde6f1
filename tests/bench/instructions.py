"""Instructions per request, counted by valgrind's callgrind: the one figure of the bench that
no other tenant of the machine can move (docs/benchmarks.md, "Instructions").

    python -m tests.bench.instructions        -> the table: each row's instructions per request
                                                 and the control's over the row's

Each row is two runs of this module's `serve` under callgrind, on one seeded SQLite database
(the database runs in the process, so its work is counted too): both make the same warm-up
requests, then one makes REQUESTS more and writes their request log in one batch, as a worker's
recorder does each second. (b1k) rotates over REQUESTS of its 2,000 keys, each used once in the
warm-up: every counted request is a key of its own in the batch, as with 2,000 keys in batches
of about 1,000 a worker; a key's first use, which the server's rows leave out too, is not counted.
The difference of the two totals, over REQUESTS, is a request's cost with its share of the
log's write. The runs go two at a time: a count does not depend on what else runs. No gunicorn
and no kernel: their part, the same for every row, is left out, so each ratio is lower than a
server's (harsher, never kinder).
"""
import gc
import io
import json
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.bench import run

REQUESTS = int(os.environ.get("BENCH_INSTRUCTION_REQUESTS", "200"))
WARM_UP = 100  # requests of the row before the counted ones, after each key's own first use
COLLECTED = re.compile(r"Collected : (\d+)")


def counted_rows() -> list[run.Row]:
    """The control and the keyed product rows of `make bench`, as it defines them."""
    control, *others = run.rows()
    return [control, *(row for row in others if row.label in (run.ONE_KEY, run.MANY_KEYS, run.LIMITED))]


def serve(label: str, count: int, creds_file: str) -> None:
    """In the process valgrind watches: warm up (each key used once, a log batch written), then
    `count` more requests and their batch."""
    import django

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler

    from usage.recorder import recorder

    row = next(row for row in counted_rows() if row.label == label)
    headers = row.headers(json.loads(Path(creds_file).read_text()))
    rotation = headers[:REQUESTS] if isinstance(headers, list) else [headers]
    app = WSGIHandler()

    def call(n: int) -> None:
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": row.path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
                   "SERVER_PORT": "80", "HTTP_HOST": "127.0.0.1", "REMOTE_ADDR": "127.0.0.1",
                   "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.input": io.BytesIO(), "wsgi.url_scheme": "http",
                   "wsgi.errors": sys.stderr}
        for name, value in rotation[n % len(rotation)].items():
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        status: list[str] = []
        b"".join(app(environ, lambda s, headers, *_: status.append(s)))
        if not status[0].startswith("200"):
            raise SystemExit(f"{label}: {row.path} answered {status[0]}")

    warm_up = WARM_UP + len(rotation)
    for n in range(warm_up):
        call(n)
    recorder.flush()
    # Python's full collection, over the 100,000 objects a worker holds, costs as much as
    # dozens of requests, and a worker's steady state meets one rarely (when its long-lived
    # objects grew by a quarter). Left to chance, one fell inside the counted requests of some
    # rows and not others, 80k instructions a request of difference: so none falls there.
    gc.collect()
    for n in range(warm_up, warm_up + count):
        call(n)
    recorder.flush()


def collected(env: dict, label: str, count: int, creds_file: str) -> int:
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-m",
         "tests.bench.instructions", "serve", label, str(count), creds_file],
        cwd=run.ROOT, env=env, capture_output=True, text=True, timeout=1800)
    found = COLLECTED.search(result.stderr)
    if result.returncode or not found:
        raise RuntimeError(f"callgrind on {label}: {result.stderr[-2000:]}")
    return int(found.group(1))


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="keyhouse-instructions-") as tmp:
        backend = run.Sqlite(Path(tmp))
        creds_file = f"{tmp}/creds.json"
        Path(creds_file).write_text(json.dumps(backend.prepare()))
        # Same every run: the counts are compared across processes. The recorder writes when
        # told (serve), never on its own clock, and key copies outlive the run.
        env = {**backend.env(), "PYTHONHASHSEED": "0", "USAGE_FLUSH_SECONDS": "100000",
               "API_KEY_LOCAL_SECONDS": "100000"}
        table = counted_rows()
        print(f"Instructions per request, in process (callgrind), SQLite: {REQUESTS} requests after the "
              "warm-up, their log's write included\n", flush=True)
        print(f"| {'row':<42} | {'instructions':>12} | {'(a) / row':>9} |\n|{'-' * 44}|{'-' * 14}|{'-' * 11}|",
              flush=True)
        with ThreadPoolExecutor(max_workers=2) as pool:
            runs = {(row.label, count): pool.submit(collected, env, row.label, count, creds_file)
                    for row in table for count in (REQUESTS, 0)}
            per_request = {row.label: (runs[(row.label, REQUESTS)].result() - runs[(row.label, 0)].result())
                           / REQUESTS for row in table}
        control = per_request[table[0].label]
        for label, count in per_request.items():
            print(f"| {label:<42} | {count:>12,.0f} | {control / count:>9.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        sys.exit(main())
