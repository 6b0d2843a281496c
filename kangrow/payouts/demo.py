"""Demo payouts for `manage.py demo` (idempotent).

The demo affiliate gets a confirmed PayPal email and a payout of what it has earned so far (a
paid invoice is added through the ledger api, by coupon, when nothing is payable yet):
- when PAYPAL_API_BASE points at the fake PayPal (`python -m kangrow.integrations.paypal.fake`),
  a real payout run goes through it and is synced;
- otherwise one historical payout is recorded as settled (no PayPal call is made).
Then one more paid invoice leaves money below the minimum, so the payouts page shows progress.
Running it again changes nothing once the demo affiliate has a payout.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TextIO
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from uuid_utils.compat import uuid7

from kangrow.accounts import api as accounts_api
from kangrow.integrations.paypal import PayPalClient
from kangrow.integrations.paypal.fake import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from kangrow.ledger import api as ledger_api
from kangrow.programs import api as programs_api

from . import api
from .models import PayoutBatch, PayoutItem, PayoutRun

DEMO_AFFILIATE = "affiliate@kangrow.local"
DEMO_PAYPAL = "affiliate-paypal@kangrow.local"
DEMO_INVOICES = [("demo-payout-inv-1", 49900, 120), ("demo-payout-inv-2", 29900, 90)]


def _fake_paypal_base() -> str | None:
    """PAYPAL_API_BASE when it is a loopback URL answering the fake's state endpoint."""
    base = settings.PAYPAL_API_BASE.rstrip("/")
    if urlsplit(base).hostname not in ("127.0.0.1", "localhost", "::1"):
        return None
    try:
        response = httpx.get(f"{base}/_fake/state", timeout=2.0)
    except httpx.HTTPError:
        return None
    return base if response.status_code == 200 else None


def _earn(user_id, invoices, stdout: TextIO) -> None:  # type: ignore[no-untyped-def]
    enrollments = [e for e in programs_api.list_enrollments(affiliate_id=user_id) if e.is_live()]
    if not enrollments:
        stdout.write("  (the demo affiliate has no live enrollment: no demo commissions)\n")
        return
    enrollment = enrollments[0]
    now = timezone.now()
    for invoice, amount, days_ago in invoices:
        occurred_at = now - timedelta(days=days_ago)
        event_id, created = ledger_api.ingest_event(
            source="demo",
            external_id=invoice,
            app_id=enrollment.app_id,
            type="invoice.paid",
            payload={
                "customer_id": f"cus_{invoice}",
                "invoice_id": invoice,
                "amount": amount,
                "currency": enrollment.currency,
                "coupon": enrollment.coupon_code,
                "occurred_at": occurred_at.isoformat(),
            },
            occurred_at=occurred_at,
        )
        if created:
            ledger_api.process_event(event_id=event_id)
    ledger_api.mature_commissions()


def _historical_payout(user_id, email: str) -> int:  # type: ignore[no-untyped-def]
    """Claim the affiliate's available money into one payout recorded as paid by PayPal."""
    now = timezone.now()
    with transaction.atomic():
        run = PayoutRun.objects.create(source=PayoutRun.Source.DEMO, minimum=1)
        batch = PayoutBatch.objects.create(
            run=run,
            payout_batch_id=f"DEMO{uuid7().hex[-12:].upper()}",
            status=PayoutBatch.Status.COMPLETED,
            batch_status="SUCCESS",
            attempts=1,
            submitted_at=now,
            completed_at=now,
        )
        total = 0
        for line in ledger_api.list_available_totals(affiliate_ids=[user_id]):
            item_id = uuid7()
            amount = ledger_api.claim_payable_entries(
                affiliate_id=user_id, currency=line.currency, payout_item_id=item_id, minimum=1
            )
            if amount <= 0:
                continue
            PayoutItem.objects.create(
                id=item_id,
                batch=batch,
                affiliate_id=user_id,
                amount=amount,
                currency=line.currency,
                receiver=email,
                state=PayoutItem.State.PAID,
                transaction_status="SUCCESS",
                payout_item_id=f"DEMOITEM{uuid7().hex[-12:].upper()}",
                settled_at=now,
            )
            ledger_api.settle_payout_item(payout_item_id=item_id, note="demo payout")
            total += 1
        if total == 0:
            transaction.set_rollback(True)
        else:
            PayoutRun.objects.filter(pk=run.pk).update(item_count=total, finished_at=now)
        return total


def load(stdout: TextIO) -> None:
    user = accounts_api.get_user_by_email(email=DEMO_AFFILIATE)
    if user is None:
        stdout.write("No demo affiliate: skipping demo payouts.\n")
        return
    api.set_confirmed_paypal_email(user_id=user.id, email=DEMO_PAYPAL)
    if PayoutItem.objects.filter(affiliate_id=user.id).exists():
        stdout.write(f"Demo payouts already there (PayPal email {DEMO_PAYPAL}).\n")
        return
    if not any(t.amount > 0 for t in ledger_api.list_available_totals(affiliate_ids=[user.id])):
        _earn(user.id, DEMO_INVOICES[:1], stdout)
    try:
        _pay(user.id, stdout)
    finally:
        _earn(user.id, DEMO_INVOICES[1:], stdout)


def _pay(user_id, stdout: TextIO) -> None:  # type: ignore[no-untyped-def]
    base = _fake_paypal_base()
    if base is not None:
        client = PayPalClient(
            base,
            settings.PAYPAL_CLIENT_ID or DEFAULT_CLIENT_ID,
            settings.PAYPAL_CLIENT_SECRET or DEFAULT_CLIENT_SECRET,
        )
        with client:
            summary = api.run_payouts(source="demo", client=client, minimum=1)
            counts: dict[str, int] = {}
            for _ in range(5):  # the fake moves a batch one step per read
                for outcome, n in api.sync_open_batches(client=client).items():
                    counts[outcome] = counts.get(outcome, 0) + n
                if not PayoutBatch.objects.filter(status=PayoutBatch.Status.SUBMITTED).exists():
                    break
        stdout.write(
            f"Demo payout run through the fake PayPal at {base}: {summary.items} item(s) "
            f"{summary.totals}; sync {counts}.\n"
        )
        return
    made = _historical_payout(user_id, DEMO_PAYPAL)
    stdout.write(
        f"Demo PayPal email {DEMO_PAYPAL} (confirmed) and {made} historical payout item(s).\n"
    )
