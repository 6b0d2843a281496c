"""Property: whatever mix of earnings, refunds, payout runs and PayPal item reports (in any order,
repeated), every affiliate's money reconciles to the cent: paid = items PayPal paid, in payout =
items in flight, available = unclaimed due rows, and they add up to what was earned net of
clawbacks. Commissions are "paid" exactly when a paid item holds them."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kangrow.integrations.paypal import ItemResult
from kangrow.ledger import api as ledger_api
from kangrow.ledger.models import Commission, LedgerClaim, LedgerEntry
from kangrow.payouts import api
from kangrow.payouts.models import PayoutItem

from .helpers import affiliate, balance, earn, refund, world

pytestmark = pytest.mark.django_db

_people = itertools.count(1)
STATUSES = [
    "SUCCESS",
    "FAILED",
    "PENDING",
    "UNCLAIMED",
    "RETURNED",
    "ONHOLD",
    "BLOCKED",
    "REFUNDED",
    "REVERSED",
    "DENIED",
]

steps = st.lists(
    st.one_of(
        st.tuples(st.just("earn"), st.integers(0, 1), st.integers(1, 9_000)),
        st.tuples(st.just("refund"), st.integers(0, 20), st.integers(1, 9_000)),
        st.tuples(st.just("run"), st.just(0), st.just(0)),
        st.tuples(st.just("report"), st.integers(0, 20), st.sampled_from(STATUSES)),
    ),
    min_size=1,
    max_size=16,
)


def report(item: PayoutItem, status: str) -> str:
    return api.apply_item_result(
        result=ItemResult(
            payout_item_id=f"P{item.id.hex[-20:].upper()}",
            payout_batch_id="B",
            transaction_status=status,
            sender_item_id=str(item.sender_item_id),
            amount_minor=item.amount,
            currency=item.currency,
            receiver=item.receiver,
        )
    )


def check_person(user) -> None:
    b = balance(user) or {"pending": 0, "payable": 0, "paid": 0, "in_payout": 0, "available": 0}
    items = list(PayoutItem.objects.filter(affiliate_id=user.id))
    paid_items = [i for i in items if i.state == "paid"]
    in_flight = [i for i in items if i.state == "in_flight"]
    available = sum(t.amount for t in ledger_api.list_available_totals(affiliate_ids=[user.id]))
    earned_net = sum(
        LedgerEntry.objects.filter(
            affiliate_id=user.id, kind__in=["commission", "clawback", "refund_reversal"]
        ).values_list("amount", flat=True)
    )
    assert b["paid"] == sum(i.amount for i in paid_items)
    assert b["in_payout"] == sum(i.amount for i in in_flight)
    assert b["available"] == available
    assert b["payable"] == b["available"] + b["in_payout"]
    assert b["available"] + b["in_payout"] + b["paid"] == earned_net
    for item in items:
        held = LedgerEntry.objects.filter(
            claim__payout_item_id=item.id, kind__in=ledger_api.CLAIMABLE_KINDS
        ).values_list("amount", flat=True)
        if item.state == "returned":
            assert list(held) == []
        else:
            assert sum(held) == item.amount > 0
    paid_ids = {i.id for i in paid_items}
    for commission in Commission.objects.filter(affiliate_id=user.id):
        row = commission.entries.get(kind="commission")
        claimed_by = LedgerClaim.objects.filter(entry=row).values_list("payout_item_id", flat=True)
        assert (commission.status == "paid") == (claimed_by.first() in paid_ids)


def test_payouts_reconcile_for_any_history():
    w = world()

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(steps)
    def check(history):
        n = next(_people)
        people = [affiliate(w, f"p{n}-{k}@example.com") for k in range(2)]
        invoices: list[str] = []
        for kind, a, b in history:
            if kind == "earn":
                invoices.append(earn(w, people[a], b))
            elif kind == "refund" and invoices:
                refund(w, invoices[a % len(invoices)], b)
            elif kind == "run":
                api.claim_payout_run(source="command")
            elif kind == "report":
                items = list(
                    PayoutItem.objects.filter(affiliate_id__in=[p.id for p in people]).order_by(
                        "created_at", "id"
                    )
                )
                if items:
                    report(items[a % len(items)], b)
        for person in people:
            check_person(person)

    check()
