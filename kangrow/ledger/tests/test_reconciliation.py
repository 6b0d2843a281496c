"""Property: whatever the order, duplication and mix of invoices and refunds, a referral's ledger
sums to Σ apply_rate(paid) − Σ apply_rate(refunded, capped at paid), per invoice, to the cent."""

from __future__ import annotations

import itertools

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kangrow.ledger import api as ledger_api
from kangrow.ledger.models import PaymentEvent

from .helpers import apply, assert_reconciled, build_world, later

pytestmark = pytest.mark.django_db

_customers = itertools.count(1)

invoice_amounts = st.lists(st.integers(min_value=0, max_value=250_000), min_size=1, max_size=4)


@st.composite
def histories(draw):
    amounts = draw(invoice_amounts)
    events = []
    for n, amount in enumerate(amounts):
        events.append(("paid", n, amount))
        if draw(st.booleans()):
            events.append(("paid", n, amount))  # a duplicate delivery under another id
        for refund in draw(st.lists(st.integers(1, max(amount, 1) + 500), max_size=3)):
            events.append(("refund", n, refund))
    order = draw(st.permutations(events))
    return amounts, order


@pytest.mark.parametrize("bps", [3000, 3333, 4999])
def test_ledger_reconciles_for_any_event_order(bps):
    world = build_world(commission_bps=bps, recurring=True, hold_days=30)

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(histories())
    def check(history):
        amounts, order = history
        customer = f"cus_p{next(_customers)}"
        apply(world, "customer.created", customer_id=customer, coupon=world.enrollment.coupon_code)
        refunded = [0] * len(amounts)
        for day, (kind, n, amount) in enumerate(order):
            invoice = f"{customer}_in{n}"
            if kind == "paid":
                apply(
                    world,
                    "invoice.paid",
                    customer_id=customer,
                    invoice_id=invoice,
                    amount=amount,
                    currency="USD",
                    at=later(day),
                )
            else:
                refunded[n] += amount
                apply(
                    world,
                    "invoice.refunded",
                    customer_id=customer,
                    invoice_id=invoice,
                    amount=amount,
                    currency="USD",
                    at=later(day),
                )
        # waiting refunds (those that came before their invoice) are retried until settled
        for _ in range(3):
            PaymentEvent.objects.filter(status="waiting").update(next_attempt_at=timezone.now())
            ledger_api.process_due_events()
        assert (
            not PaymentEvent.objects.filter(customer_id=customer)
            .exclude(status="processed")
            .exists()
        )
        assert_reconciled(customer, amounts, refunded, bps)

    check()
