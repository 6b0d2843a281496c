"""Builders for the payouts tests: affiliates who earned exact amounts through the ledger api
(a 100 % campaign, so a commission equals its invoice), PayPal emails, and a fake-PayPal client.
"""

from __future__ import annotations

import itertools
from typing import Any

from kangrow.integrations.paypal import PayPalClient
from kangrow.ledger import api as ledger_api
from kangrow.ledger.models import LedgerEntry
from kangrow.ledger.tests.helpers import World, apply, build_world
from kangrow.payouts import api
from kangrow.programs import api as programs_api
from kangrow.programs.tests.factories import make_affiliate

_ids = itertools.count(1)


def world() -> World:
    return build_world(email="first@example.com", commission_bps=10000, hold_days=30)


def affiliate(w: World, email: str, *, paypal: str | None = "confirmed", **flags: Any) -> Any:
    """An approved affiliate enrolled in the world's campaign; paypal: confirmed, unconfirmed
    or None (no PayPal email)."""
    user = make_affiliate(email, **flags)
    user.enrollment = programs_api.join_campaign(
        affiliate_id=user.id, campaign_slug=w.campaign.slug
    )
    local, _, domain = email.partition("@")
    if paypal == "confirmed":
        api.set_confirmed_paypal_email(user_id=user.id, email=f"{local}-pp@{domain}")
    elif paypal == "unconfirmed":
        api.request_paypal_email_change(user_id=user.id, email=f"{local}-pp@{domain}")
    return user


def earn(w: World, user: Any, amount: int, *, currency: str = "USD") -> str:
    """A paid invoice (long past its hold period) earning `amount` minor units; its invoice id."""
    n = next(_ids)
    invoice = f"in_{n}"
    _, status = apply(
        w,
        "invoice.paid",
        customer_id=f"cus_{n}",
        invoice_id=invoice,
        amount=amount,
        currency=currency,
        coupon=user.enrollment.coupon_code,
    )
    assert status == "processed"
    return invoice


def refund(w: World, invoice: str, amount: int) -> None:
    from kangrow.ledger.models import Commission

    commission = Commission.objects.get(invoice_id=invoice)
    _, status = apply(
        w,
        "invoice.refunded",
        customer_id=commission.customer_id,
        invoice_id=invoice,
        amount=amount,
        currency=commission.currency,
    )
    assert status == "processed"


def balance(user: Any, currency: str = "USD") -> dict[str, int]:
    for b in ledger_api.get_balances(affiliate_id=user.id):
        if b.currency == currency:
            return {
                "pending": b.pending,
                "payable": b.payable,
                "paid": b.paid,
                "in_payout": b.in_payout,
                "available": b.available,
            }
    return {}


def ledger_sum(user: Any, currency: str = "USD") -> int:
    return sum(
        LedgerEntry.objects.filter(affiliate_id=user.id, currency=currency).values_list(
            "amount", flat=True
        )
    )


def fake_client(fake: Any, *, retries: int = 0, timeout: float = 0.5) -> PayPalClient:
    return PayPalClient(
        fake.base_url,
        fake.client_id,
        fake.client_secret,
        timeout=timeout,
        max_retries=retries,
        sleep=lambda seconds: None,
    )


def fake_paid(fake: Any) -> dict[str, int]:
    """What the fake PayPal paid (SUCCESS items) per receiver, in minor units."""
    from decimal import Decimal

    paid: dict[str, int] = {}
    for item in fake.items.values():
        if item.transaction_status == "SUCCESS":
            cents = int(Decimal(item.value) * 100)
            paid[item.receiver] = paid.get(item.receiver, 0) + cents
    return paid
