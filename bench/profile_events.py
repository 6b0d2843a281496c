"""Where a money event's time goes, in process: the signed POST, then the drain that turns it
into a commission, each timed and under cProfile.

    .venv/bin/python -m bench.profile_events --events 3000

Starts the bench stack (PostgreSQL + Redis, like bench.events), then in one child process
calls the WSGI application directly (no HTTP, no load generator) with `--events` signed
invoice.paid posts for referred customers (30 % repeats), then runs `ledger.api.drain_events`
over what they stored (no Celery worker: the queued drain tasks are left unconsumed). Each half
runs twice on fresh events: timed (wall and this process's CPU per post or event), then under
cProfile, printing the functions with the most own time. PostgreSQL's and Redis' CPU is not
counted here; bench.events measures every process.
"""

from __future__ import annotations

import argparse
import time

from .harness import report
from .profiling import profiled, run_inner, wsgi_environ


def _environ(request: dict) -> dict:
    headers = {"Content-Type": "application/json", **request["headers"]}
    return wsgi_environ("POST", request["path"], body=request["body"].encode(), headers=headers)


def _inner(events: int, top: int) -> None:
    import django

    django.setup()
    from django.db import connection

    from config.wsgi import application
    from kangrow.ledger import api as ledger_api

    from .events import REFERRED_CUSTOMERS_SQL, signed_requests

    with connection.cursor() as cur:
        cur.execute(REFERRED_CUSTOMERS_SQL)
        rows = cur.fetchall()
    if not rows:
        raise SystemExit("no referred customer: generate data first")

    def start_response(status: str, headers: list) -> None:
        if status[:3] not in ("200", "202"):
            raise RuntimeError(f"unexpected {status}")

    def post_all(requests: list[dict]) -> tuple[float, float]:
        t0, c0 = time.perf_counter(), time.process_time()
        for request in requests:
            body = application(_environ(request), start_response)
            for _ in body:
                pass
            body.close()
        n = len(requests)
        return (time.perf_counter() - t0) / n * 1000, (time.process_time() - c0) / n * 1000

    def drain() -> tuple[int, float, float]:
        t0, c0 = time.perf_counter(), time.process_time()
        done = ledger_api.drain_events()
        spent = time.perf_counter() - t0, time.process_time() - c0
        return done, spent[0] / max(done, 1) * 1000, spent[1] / max(done, 1) * 1000

    figures: dict = {}
    seed = int(time.time())
    post_all(signed_requests(rows, min(events, 300), 0.3, seed))  # warm: imports, connections
    drain()
    for n, on in ((1, False), (2, True)):
        requests = signed_requests(rows, events, 0.3, seed + n)
        suffix = "_profiled" if on else ""
        with profiled(f"{events} posts", top, enabled=on):
            wall, cpu = post_all(requests)
        figures[f"post_ms{suffix}"] = round(wall, 4)
        figures[f"post_cpu_ms{suffix}"] = round(cpu, 4)
        with profiled("the drain", top, enabled=on):
            done, wall, cpu = drain()
        figures[f"drained_events{suffix}"] = done
        figures[f"drain_ms_per_event{suffix}"] = round(wall, 4)
        figures[f"drain_cpu_ms_per_event{suffix}"] = round(cpu, 4)
    report("events-profile", figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=3000, help="posts, repeats included")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--scale", type=float, default=0.01)
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        _inner(args.events, args.top)
        return
    run_inner("bench.profile_events", ["--events", str(args.events), "--top", str(args.top)],
              scale=args.scale)  # fmt: skip


if __name__ == "__main__":
    main()
