"""Tracking redirect vs the framework floor, side by side in one run; then 500 req/s fixed rate.

    .venv/bin/python -m bench.tracking --scale 0.01 --seconds 10

The floor is /floor/<token> (bench/views.py): the same 302 through the same middleware stack,
no cache, no database. /r/<token> resolves the link (process memory, then the Redis cache, one
query on a miss) and queues the click for the Redis click buffer (REDIS_URL is set; a thread
per web process sends the queue every KANGROW_CLICK_BATCH_MS, `--batch-ms 0` for one XADD per
request); a Celery worker and beat run alongside and drain the buffer into `clicks` every
second, as in production. After the run the bench waits for the buffer to empty and checks
that every measured redirect wrote its click. The floor also runs at the fixed rate, so the p99
the shared machine's noise alone causes is reported next to the redirect's. Targets: /r/ >= 0.8
x the floor's requests/s; p99 < 15 ms at 500 req/s.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from collections.abc import Iterator

from .harness import (
    PY,
    Stack,
    common_args,
    cpu_per_request,
    cpu_used,
    fixed_rate,
    report,
    sampling_peak,
    sampling_rss,
    wait_until,
    wrk,
)

STREAM = "kangrow:clicks"  # kangrow.tracking.buffer.STREAM


def round_cpu(result: dict) -> dict:
    """CPU per request of each process group during one wrk round."""
    return cpu_per_request(result["cpu"], result["requests"], result["seconds"])


@contextlib.contextmanager
def sampling_backlog(redis_url: str, interval: float = 0.1) -> Iterator[dict[str, float]]:
    """Track the largest number of entries waiting in the Redis buffer while the block runs
    (each holds one sender's batch, up to 500 clicks: counting the clicks would mean reading
    them all, ten times a second)."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=2)

    def backlog() -> float:
        try:
            return int(client.xlen(STREAM))
        except redis.RedisError:
            return 0

    try:
        with sampling_peak(backlog, interval) as peak:
            yield peak
    finally:
        client.close()


def wait_drained(redis_url: str, timeout: float = 300) -> float:
    """Seconds until the click buffer is empty (the worker committed every batch)."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=2)
    start = time.monotonic()
    wait_until(lambda: client.xlen(STREAM) == 0, timeout=timeout, what="click drain")
    client.close()
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common_args(parser)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2, help="floor/redirect pairs, best kept")
    parser.add_argument(
        "--no-buffer", action="store_true", help="KANGROW_CLICK_BUFFER=false: INSERT per click"
    )
    parser.add_argument(
        "--batch-ms", type=int, default=None,
        help="KANGROW_CLICK_BATCH_MS (default: the settings' 20; 0 = one XADD per request)",
    )  # fmt: skip
    args = parser.parse_args()
    with Stack(scale=args.scale, database_url=args.database_url) as stack:
        tokens = [
            row[0]
            for row in stack.sql(
                "SELECT e.token FROM enrollments e JOIN campaigns c ON c.id = e.campaign_id "
                "WHERE e.status = 'active' AND c.status = 'active' ORDER BY e.id LIMIT 5000"
            )
        ]
        if not tokens:
            raise SystemExit("no live enrollment to click: generate data first")
        if args.no_buffer:
            stack.env["KANGROW_CLICK_BUFFER"] = "false"
        if args.batch_ms is not None:
            stack.env["KANGROW_CLICK_BATCH_MS"] = str(args.batch_ms)
        web = stack.gunicorn(workers=args.workers, threads=args.threads)
        buffered = bool(stack.env.get("REDIS_URL")) and not args.no_buffer
        if buffered:  # production's drain: a worker plus beat sending tracking.drain_clicks
            stack.celery(concurrency=1)
            stack.spawn(
                "beat",
                [PY, "-m", "celery", "-A", "config", "beat", "--loglevel=WARNING",
                 f"--schedule={stack.workdir / 'celerybeat-schedule'}"],
            )  # fmt: skip
        load_start = os.getloadavg()
        clicks_before = stack.sql("SELECT count(*) FROM clicks")[0][0]
        redirect_paths = [f"/r/{t}?utm_source=bench" for t in tokens]
        floor_paths = [f"/floor/{t}?utm_source=bench" for t in tokens]
        # Warm both paths (imports, connections, link cache) before measuring.
        wrk(web.base, redirect_paths, seconds=3, connections=args.connections)
        wrk(web.base, floor_paths, seconds=2, connections=args.connections)
        n = args.connections
        floors, redirects = [], []
        backlog = (
            sampling_backlog(stack.env["REDIS_URL"]) if buffered else contextlib.nullcontext({})
        )
        with sampling_rss(web.worker_pids) as rss, backlog as peak_backlog:
            for _ in range(args.rounds):
                for results, paths in ((floors, floor_paths), (redirects, redirect_paths)):
                    with cpu_used() as cpu:
                        result = wrk(web.base, paths, seconds=args.seconds, connections=n)
                    results.append({**result, "cpu": cpu})
            if buffered:  # steady state: not the backlog the full-speed rounds left behind
                wait_drained(stack.env["REDIS_URL"])
            # the same fixed rate on the floor: what the shared machine's noise alone costs p99
            fixed_floor = fixed_rate(web.base, floor_paths, rate=500, seconds=args.seconds,
                                     connections=32)  # fmt: skip
            fixed = fixed_rate(web.base, redirect_paths, rate=500, seconds=args.seconds,
                               connections=32)  # fmt: skip
        load_end = os.getloadavg()
        floor = max(floors, key=lambda r: r["rps"])
        redirect = max(redirects, key=lambda r: r["rps"])
        ratios = sorted(r["rps"] / f["rps"] for f, r in zip(floors, redirects, strict=True))
        drain_wait = wait_drained(stack.env["REDIS_URL"]) if buffered else 0.0
        sent = sum(r["requests"] for r in redirects) + fixed["requests"]

        def written() -> int:
            return stack.sql("SELECT count(*) FROM clicks")[0][0] - clicks_before

        if buffered:  # an empty stream can still precede a web process's last batch (≤ 20 ms)
            with contextlib.suppress(TimeoutError):
                wait_until(lambda: written() >= sent, timeout=60, what="every click written")
        clicks_written = written()
        if clicks_written < sent:
            raise SystemExit(f"clicks lost: {clicks_written} written < {sent} measured redirects")
        report(
            "tracking",
            {
                "floor_rps": round(floor["rps"]),
                "floor_p50_ms": floor["p50_ms"],
                "floor_p99_ms": floor["p99_ms"],
                "redirect_rps": round(redirect["rps"]),
                "redirect_p50_ms": redirect["p50_ms"],
                "redirect_p99_ms": redirect["p99_ms"],
                "ratio_to_floor": round(redirect["rps"] / floor["rps"], 3),
                "ratio_per_round_median": round(ratios[len(ratios) // 2], 3),
                "ratio_per_round": [round(r, 3) for r in ratios],
                "floor_rounds_rps": [round(r["rps"]) for r in floors],
                "floor_best_round_cpu_us_per_request": round_cpu(floor),
                "redirect_best_round_cpu_us_per_request": round_cpu(redirect),
                "redirect_rounds_rps": [round(r["rps"]) for r in redirects],
                "fixed_500_rps": fixed["rps"],
                "fixed_500_p50_ms": fixed["p50_ms"],
                "fixed_500_p99_ms": fixed["p99_ms"],
                "fixed_500_errors": fixed["errors"],
                "floor_fixed_500_p50_ms": fixed_floor["p50_ms"],
                "floor_fixed_500_p99_ms": fixed_floor["p99_ms"],
                "fixed_500_statuses": fixed["statuses"],
                "errors": sum(r["errors"] + r["non2xx3xx"] for r in floors + redirects),
                "clicks_written_vs_measured": f"{clicks_written} >= {sent}",
                "click_buffer": (
                    f"redis stream, batched every {stack.env.get('KANGROW_CLICK_BATCH_MS', '20')}"
                    " ms, drained by beat every 1 s"
                    if buffered
                    else "off"
                ),
                "buffer_peak_backlog_entries": int(peak_backlog.get("max", 0)),
                "drain_after_run_s": round(drain_wait, 2),
                "buffer_fallback_inserts": (stack.workdir / "web.log")
                .read_text(errors="replace")
                .count("click buffer unavailable"),
                "load_average_start": [round(x, 2) for x in load_start],
                "load_average_end": [round(x, 2) for x in load_end],
                "web_worker_peak_rss_mib": round(rss["max"], 1),
                "server": f"gunicorn gthread {args.workers}x{args.threads}, wrk -c{n}",
            },
        )


if __name__ == "__main__":
    main()
