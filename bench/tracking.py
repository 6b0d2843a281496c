"""Tracking redirect vs the framework floor, side by side in one run; then 500 req/s fixed rate.

    .venv/bin/python -m bench.tracking --scale 0.01 --seconds 10

The floor is /floor/<token> (bench/views.py): the same 302 through the same middleware stack,
no cache, no database. /r/<token> resolves the link (Redis cache, one query on a miss) and
INSERTs the click. Targets: /r/ >= 0.8 x the floor's requests/s; p99 < 15 ms at 500 req/s.
"""

from __future__ import annotations

import argparse

from .harness import Stack, common_args, fixed_rate, report, sampling_rss, wrk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common_args(parser)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2, help="floor/redirect pairs, best kept")
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
        web = stack.gunicorn(workers=args.workers, threads=args.threads)
        clicks_before = stack.sql("SELECT count(*) FROM clicks")[0][0]
        redirect_paths = [f"/r/{t}?utm_source=bench" for t in tokens]
        floor_paths = [f"/floor/{t}?utm_source=bench" for t in tokens]
        # Warm both paths (imports, connections, link cache) before measuring.
        wrk(web.base, redirect_paths, seconds=3, connections=args.connections)
        wrk(web.base, floor_paths, seconds=2, connections=args.connections)
        n = args.connections
        floors, redirects = [], []
        with sampling_rss(web.worker_pids) as rss:
            for _ in range(args.rounds):
                floors.append(wrk(web.base, floor_paths, seconds=args.seconds, connections=n))
                redirects.append(wrk(web.base, redirect_paths, seconds=args.seconds, connections=n))
            fixed = fixed_rate(web.base, redirect_paths, rate=500, seconds=args.seconds,
                               connections=32)  # fmt: skip
        floor = max(floors, key=lambda r: r["rps"])
        redirect = max(redirects, key=lambda r: r["rps"])
        clicks_written = stack.sql("SELECT count(*) FROM clicks")[0][0] - clicks_before
        sent = sum(r["requests"] for r in redirects) + fixed["requests"]
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
                "all_rounds_rps": [round(r["rps"]) for r in floors + redirects],
                "fixed_500_rps": fixed["rps"],
                "fixed_500_p50_ms": fixed["p50_ms"],
                "fixed_500_p99_ms": fixed["p99_ms"],
                "fixed_500_errors": fixed["errors"],
                "fixed_500_statuses": fixed["statuses"],
                "errors": sum(r["errors"] + r["non2xx3xx"] for r in floors + redirects),
                "clicks_written_vs_measured": f"{clicks_written} >= {sent}",
                "web_worker_peak_rss_mib": round(rss["mib"], 1),
                "server": f"gunicorn gthread {args.workers}x{args.threads}, wrk -c{n}",
            },
        )


if __name__ == "__main__":
    main()
