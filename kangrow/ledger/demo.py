"""Demo money for `manage.py demo` (idempotent): paid invoices for the demo referrals, a
long-standing customer per demo enrollment whose early invoices are past the hold period (so
balances show pending and payable), one partial refund and one cancellation.

Everything goes through the same path as real money: `ingest_event` with fixed external ids
(source "demo"), then `process_event`. A second run finds every event already stored and
processed, and changes nothing.

Runs after kangrow.tracking.demo.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TextIO

from django.utils import timezone

from kangrow.accounts import api as accounts_api
from kangrow.programs import api as programs_api
from kangrow.tracking import api as tracking_api

from . import api

AFFILIATES = ("affiliate@kangrow.local", "maria@kangrow.local")
PRICES = {"invoicepro": 2900, "mailpilot": 4900, "shipfast": 9900}
DEFAULT_PRICE = 3900


def _event(
    *,
    key: str,
    app_id,
    type: str,
    at: datetime,
    **data,  # type: ignore[no-untyped-def]
) -> str:
    payload = {**data, "occurred_at": at.isoformat()}
    event_id, _ = api.ingest_event(
        source="demo", external_id=key, app_id=app_id, type=type, payload=payload, occurred_at=at
    )
    return api.process_event(event_id=event_id)


def _invoices(referral, price: int, currency: str, since: datetime, now: datetime) -> int:  # type: ignore[no-untyped-def]
    made = 0
    at = since
    n = 0
    while at <= now:
        _event(
            key=f"demo:invoice:{referral.app_id}:{referral.customer_id}:{n}",
            app_id=referral.app_id,
            type="invoice.paid",
            at=at,
            customer_id=referral.customer_id,
            invoice_id=f"demo_in_{referral.customer_id}_{n}",
            amount=price,
            currency=currency,
        )
        made += 1
        n += 1
        at = since + timedelta(days=30 * n)
    return made


def load(stdout: TextIO) -> None:
    now = timezone.now()
    users = [accounts_api.get_user_by_email(email=email) for email in AFFILIATES]
    users = [u for u in users if u is not None]
    if not users:
        stdout.write("Skipping demo money: no demo affiliates.\n")
        return

    # A long-standing customer per live demo enrollment: signed up 75 days ago with the coupon.
    for index, user in enumerate(users):
        for k, enrollment in enumerate(programs_api.list_enrollments(affiliate_id=user.id)):
            if not enrollment.is_live():
                continue
            _event(
                key=f"demo:signup:veteran:{enrollment.id}",
                app_id=enrollment.app_id,
                type="subscription.created",
                at=now - timedelta(days=75 + k),
                customer_id=f"demo_{enrollment.app_slug}_veteran{index}{k}",
                customer_email=f"veteran.{index}{k}@customer.example",
                coupon=enrollment.coupon_code,
            )

    referrals = sorted(
        (
            r
            for u in users
            for r in tracking_api.list_referrals(affiliate_id=u.id)
            if r.customer_id.startswith("demo_")  # the tracking demo's and ours, not others'
        ),
        key=lambda r: (str(r.app_id), r.customer_id),
    )
    invoices = 0
    for referral in referrals:
        app = programs_api.get_app(app_id=referral.app_id)
        if app is None:
            continue
        price = PRICES.get(app.slug, DEFAULT_PRICE)
        invoices += _invoices(referral, price, app.currency, referral.referred_at, now)

    live = [r for r in referrals if not r.self_referral]
    if live:
        first = live[0]
        app = programs_api.get_app(app_id=first.app_id)
        _event(
            key=f"demo:refund:{first.app_id}:{first.customer_id}",
            app_id=first.app_id,
            type="invoice.refunded",
            at=now - timedelta(days=1),
            customer_id=first.customer_id,
            invoice_id=f"demo_in_{first.customer_id}_0",
            amount=PRICES.get(app.slug, DEFAULT_PRICE) // 2 if app else DEFAULT_PRICE // 2,
            currency=app.currency if app else "USD",
        )
    if len(live) > 1:
        last = live[-1]
        _event(
            key=f"demo:cancel:{last.app_id}:{last.customer_id}",
            app_id=last.app_id,
            type="subscription.cancelled",
            at=now - timedelta(hours=6),
            customer_id=last.customer_id,
        )
    matured = api.mature_commissions(now=now)
    stdout.write(
        f"Demo money ready: {len(referrals)} referrals, {invoices} paid invoices, "
        f"{matured} commissions newly payable, one refund and one cancellation.\n"
    )
