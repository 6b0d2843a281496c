"""Payout run: every eligible affiliate claimed, batched and sent to the fake PayPal.

    .venv/bin/python -m bench.payouts --affiliates 16000

Generates a program with no payout history (every matured commission payable) and equally
popular affiliates, starts the fake PayPal (kangrow.integrations.paypal.fake) on loopback, and
times `manage.py run_payouts` end to end (process start included). Then checks that PayPal got
one item per eligible affiliate, and that a second run pays nobody. Target: 15,000 affiliates in
under 10 s.
"""

from __future__ import annotations

import argparse
import json
import time

import httpx

from .harness import PY, Stack, free_port, report, wait_until


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--affiliates", type=int, default=16_000)
    parser.add_argument("--commissions-per-affiliate", type=int, default=12)
    parser.add_argument("--database-url", default=None, help="an already generated database")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        return _inner()
    n = args.affiliates
    generate_args = [
        "--unpaid", "--uniform", "--set", f"affiliates={n}", "--set", f"enrollments={n}",
        "--set", "clicks=0", "--set", f"referrals={n * 3}",
        "--set", f"commissions={n * args.commissions_per_affiliate}",
    ]  # fmt: skip
    with Stack(database_url=args.database_url, redis=False, generate_args=generate_args) as stack:
        port = free_port()
        fake = stack.spawn(
            "paypal", [PY, "-m", "kangrow.integrations.paypal.fake", "--port", str(port)]
        )
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _up(base), timeout=30, what="fake PayPal", proc=fake)
        stack.env.update(
            PAYPAL_API_BASE=base,
            PAYPAL_CLIENT_ID="fake-client-id",
            PAYPAL_CLIENT_SECRET="fake-client-secret",  # the fake's test credential
        )
        preview = stack.manage("run_payouts", "--preview").strip().splitlines()
        eligible = len(preview) - 1
        started = time.monotonic()
        timed = json.loads(stack.run_py("-m", "bench.payouts", "--inner").strip().splitlines()[-1])
        seconds = time.monotonic() - started
        state = httpx.get(base + "/_fake/state", timeout=30).json()
        items = stack.sql("SELECT count(*), coalesce(sum(amount), 0) FROM payout_items")[0]
        again_started = time.monotonic()
        again = stack.manage("run_payouts")
        again_seconds = time.monotonic() - again_started
        items_after = stack.sql("SELECT count(*) FROM payout_items")[0][0]
        report(
            "payouts",
            {
                "eligible_affiliates": eligible,
                "run_payouts_seconds_in_process": timed["seconds"],
                "claim_seconds": timed["claim_seconds"],
                "process_seconds_with_start": round(seconds, 2),
                "batches": timed["batches"],
                "items_created": items[0],
                "amount_cents": items[1],
                "paypal_batches": _count(state, "batches"),
                "paypal_items": _count(state, "items"),
                "second_run_seconds": round(again_seconds, 2),
                "second_run_new_items": items_after - items[0],
                "second_run_summary": again.strip().splitlines()[-1] if again.strip() else "",
            },
        )


def _inner() -> None:
    """In the benchmark's environment: time payouts.api.run_payouts as run_payouts does."""
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from kangrow.integrations.paypal import get_client
    from kangrow.payouts import api

    # What run_payouts does, step by step, timed: claim into committed batches, then submit.
    started = time.monotonic()
    with get_client() as client:
        api.resume_unsent_batches(client=client)
        run_id, batch_ids = api.claim_payout_run(source="command")
        claimed = time.monotonic()
        statuses = [api.submit_batch(batch_id=b, client=client) for b in batch_ids]
    done = time.monotonic()
    print(json.dumps({"seconds": round(done - started, 2),
                      "claim_seconds": round(claimed - started, 2),
                      "batches": statuses}))  # fmt: skip


def _up(base: str) -> bool:
    try:
        return httpx.get(base + "/_fake/state", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _count(state: dict, key: str) -> int | str:
    value = state.get(key)
    if isinstance(value, (list, dict)):
        return len(value)
    return json.dumps(value)[:80]


if __name__ == "__main__":
    main()
