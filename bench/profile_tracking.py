"""Where a tracking redirect's time goes, in process: cProfile over the floor and /r/<token>.

    .venv/bin/python -m bench.profile_tracking --requests 2000

Starts the bench stack (PostgreSQL + Redis, like bench.tracking), then in one child process
calls the WSGI application directly (no HTTP, no load generator) for `--requests` requests of
/floor/<token> and of /r/<token>: first timed without the profiler (wall time and this process's
CPU time per request; the wall time includes waiting for PostgreSQL or Redis), then
under cProfile, printing the functions with the most own time. Clicks left in the Redis buffer
are drained at the end and counted, so the run also checks nothing was lost.
"""

from __future__ import annotations

import argparse
import time

from .harness import report
from .profiling import profiled, run_inner, wsgi_environ


def _environ(path: str) -> dict:
    return wsgi_environ("GET", path, headers={
        "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) kangrow-bench",
        "Referer": "https://blog.example/post",
    })  # fmt: skip


def _inner(requests: int, top: int) -> None:
    import django

    django.setup()
    from django.db import connection

    from config.wsgi import application
    from kangrow.tracking import api as tracking_api

    with connection.cursor() as cur:
        cur.execute(
            "SELECT e.token FROM enrollments e JOIN campaigns c ON c.id = e.campaign_id "
            "WHERE e.status = 'active' AND c.status = 'active' ORDER BY e.id LIMIT 200"
        )
        tokens = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT count(*) FROM clicks")
        clicks_before = cur.fetchone()[0]

    def start_response(status: str, headers: list) -> None:
        if not status.startswith("302"):
            raise RuntimeError(f"unexpected {status}")

    cpu = {"ms": 0.0}

    def run(prefix: str, n: int) -> float:
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(n):
            body = application(_environ(f"{prefix}{tokens[i % len(tokens)]}?utm_source=bench"),
                               start_response)  # fmt: skip
            for _ in body:
                pass
            body.close()
        cpu["ms"] = (time.process_time() - c0) / n * 1000
        return (time.perf_counter() - t0) / n * 1000

    figures: dict = {}
    measured = 0
    for name, prefix in (("floor", "/floor/"), ("redirect", "/r/")):
        run(prefix, min(requests, 400))  # warm: imports, connections, link caches
        figures[f"{name}_ms_per_request"] = round(run(prefix, requests), 4)
        figures[f"{name}_cpu_ms_per_request"] = round(cpu["ms"], 4)  # this process's CPU only
        with profiled(f"{name}: {requests} requests", top):
            per = run(prefix, requests)
        figures[f"{name}_ms_per_request_profiled"] = round(per, 4)
        if prefix == "/r/":
            measured += 2 * requests + min(requests, 400)
    figures["drained_at_end"] = tracking_api.drain_click_buffer() if hasattr(
        tracking_api, "drain_click_buffer"
    ) else 0  # fmt: skip
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM clicks")
        written = cur.fetchone()[0] - clicks_before
    figures["clicks_written_vs_sent"] = f"{written} == {measured}"
    if written != measured:
        raise SystemExit(f"clicks lost: {written} written, {measured} sent")
    report("tracking-profile", figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--scale", type=float, default=0.001)
    parser.add_argument("--no-redis", action="store_true", help="embedded mode: no REDIS_URL")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        _inner(args.requests, args.top)
        return
    run_inner("bench.profile_tracking", ["--requests", str(args.requests), "--top", str(args.top)],
              scale=args.scale, redis=not args.no_redis)  # fmt: skip


if __name__ == "__main__":
    main()
