"""Affiliate dashboard, referral table and the staff pages on a big database: p50/p95.

    BENCH_DATABASE_URL=postgres://.../kangrow_full .venv/bin/python -m bench.dashboard

Logged-in GETs at a steady low rate from a second process (bench.loadgen), so the figures are
server time, not queueing: the busiest affiliates (most referrals) and random ones, then a
staff member with a verified second factor on /admin. Targets: affiliate pages p95 < 50 ms,
staff overview < 200 ms.
"""

from __future__ import annotations

import argparse
import json
import time

import httpx

from .harness import Stack, common_args, fixed_rate, report, sampling_rss

AFFILIATE_PAGES = {
    "dashboard (30 days)": "/dashboard/",
    "dashboard (90 days)": "/dashboard/?period=90",
    "referral table": "/dashboard/referrals",
    "referral table page 3": "/dashboard/referrals?page=3",
}
STAFF_PAGES = {
    "admin index": "/admin/",
    "admin commissions": "/admin/ledger/commission/",
    "admin clicks": "/admin/tracking/click/",
    "admin referrals": "/admin/tracking/referral/",
    "admin payment events": "/admin/ledger/paymentevent/",
    "admin ledger entries": "/admin/ledger/ledgerentry/",
    "admin ledger claims": "/admin/ledger/ledgerclaim/",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common_args(parser)
    parser.add_argument("--affiliates", type=int, default=40)
    parser.add_argument("--requests", type=int, default=200, help="per affiliate page")
    parser.add_argument("--staff-requests", type=int, default=40, help="per staff page")
    parser.add_argument("--rate", type=int, default=10)
    args = parser.parse_args()
    with Stack(scale=args.scale, database_url=args.database_url) as stack:
        sessions = json.loads(
            stack.run_py("-m", "bench.sessions", "--affiliates", str(args.affiliates))
        )
        web = stack.gunicorn(workers=2, threads=4)
        figures: dict[str, object] = {}
        with sampling_rss(web.worker_pids) as rss:
            for name, url in {**AFFILIATE_PAGES, **STAFF_PAGES}.items():
                staff = name in STAFF_PAGES
                cookies = [sessions["staff"]] if staff else sessions["affiliates"]
                first = time.monotonic()
                try:
                    status = httpx.get(
                        web.base + url, headers={"Cookie": cookies[0]}, timeout=60
                    ).status_code
                except httpx.TimeoutException:
                    status = "timeout"
                first = time.monotonic() - first
                print(f"{name}: first request {status} in {first * 1000:.0f} ms", flush=True)
                if status != 200:
                    figures[name] = f"{status} after {first:.1f} s (not measured)"
                    continue
                total = args.staff_requests if staff else args.requests
                paths = [f"{url}\t{c}" for c in cookies]
                # Warm-up: each affiliate once (connections, caches), then measure.
                fixed_rate(web.base, paths, rate=args.rate, seconds=len(paths) / args.rate,
                           connections=4)  # fmt: skip
                busy = fixed_rate(
                    web.base,
                    paths[: sessions["busiest"]] or paths,
                    rate=args.rate,
                    seconds=total / 2 / args.rate,
                    connections=4,
                )
                every = fixed_rate(web.base, paths, rate=args.rate,
                                   seconds=total / args.rate, connections=4)  # fmt: skip
                for label, r in (("", every), (" busiest", busy)):
                    if staff and label:
                        continue
                    bad = {k: v for k, v in r["statuses"].items() if k != "200"}
                    figures[f"{name}{label}"] = (
                        f"p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms, "
                        f"p99 {r['p99_ms']:.1f} ms, n={r['requests']}"
                        + (f", non-200 {bad}" if bad else "")
                    )
        figures["web_worker_peak_rss_mib"] = round(rss["max"], 1)
        figures["rows"] = dict(
            stack.sql(
                "SELECT 'clicks', count(*) FROM clicks UNION ALL SELECT 'referrals', count(*) "
                "FROM referrals UNION ALL SELECT 'commissions', count(*) FROM commissions"
            )
        )
        report("dashboard", figures)


if __name__ == "__main__":
    main()
