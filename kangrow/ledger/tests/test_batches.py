"""Batch processing of money events: drains take due events in arrival order, many per
transaction, each in its own savepoint; one poisoned event fails alone, concurrent drains never
take the same event or pay an invoice twice, and a batch costs a bounded number of queries."""

from __future__ import annotations

import itertools
from functools import partial

import pytest
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kangrow.core.testing import run_at_once
from kangrow.ledger import api as ledger_api
from kangrow.ledger.models import Commission, LedgerEntry, PaymentEvent
from kangrow.notifications.models import Notification
from kangrow.webhooks_out import api as webhooks_out_api
from kangrow.webhooks_out.models import Delivery, Message

from .helpers import T0, apply, assert_reconciled, build_world, later

_ids = itertools.count(1)


def store(world, type: str, *, customer: str, at=T0, **data) -> str:
    """Store an event without processing it (as the web tier does; the drain comes later)."""
    event_id, created = ledger_api.ingest_event(
        source="test",
        external_id=f"batch_{next(_ids)}",
        app_id=world.app.id,
        type=type,
        payload={"customer_id": customer, "occurred_at": at.isoformat(), **data},
        occurred_at=at,
    )
    assert created
    return event_id


def referred(world, n: int, prefix: str = "cus_b") -> list[str]:
    customers = [f"{prefix}{i}" for i in range(n)]
    for customer in customers:
        apply(world, "customer.created", customer_id=customer, coupon=world.enrollment.coupon_code)
    return customers


def store_invoice(world, customer: str, invoice: str, amount: int = 1000, **data) -> str:
    return store(
        world,
        "invoice.paid",
        customer=customer,
        invoice_id=invoice,
        amount=amount,
        currency=data.pop("currency", "USD"),
        **data,
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "poison",
    [
        pytest.param({"amount": "not a number"}, id="bad-amount"),
        # Too long for the column: only PostgreSQL refuses it, inside the batch's INSERT, which
        # would abort the whole transaction without the savepoint and the one-by-one fallback.
        pytest.param({"currency": "EURO"}, id="database-error"),
    ],
)
def test_a_poisoned_event_fails_alone_and_the_rest_of_its_batch_is_processed(poison):
    if "currency" in poison and connection.vendor != "postgresql":
        pytest.skip("SQLite does not enforce column lengths")
    world = build_world()
    customers = referred(world, 5)
    good = [store_invoice(world, c, f"in_{c}") for c in customers[:2]]
    bad = store_invoice(world, customers[2], "in_bad", **poison)
    good += [store_invoice(world, c, f"in_{c}") for c in customers[3:]]
    # when one batch takes them all
    assert ledger_api.process_event_batch(limit=10) == 5
    # then the four good ones earned, the poisoned one failed visibly and will be retried
    assert PaymentEvent.objects.filter(pk__in=good, status="processed").count() == 4
    assert Commission.objects.count() == LedgerEntry.objects.count() == 4
    event = PaymentEvent.objects.get(pk=bad)
    assert (event.status, event.attempts) == ("failed", 1)
    assert event.next_attempt_at is not None and event.next_attempt_at > timezone.now()
    assert event.last_error
    # and a drain now finds nothing due (the failure waits for its backoff)
    assert ledger_api.drain_events() == 0
    # once the backoff is over it is tried again (and fails again, counted)
    PaymentEvent.objects.filter(pk=bad).update(next_attempt_at=timezone.now())
    assert ledger_api.drain_events() == 1
    assert PaymentEvent.objects.get(pk=bad).attempts == 2


@pytest.mark.django_db
def test_a_drain_ends_at_a_batch_that_is_not_full(monkeypatch):
    # given 12 invoices stored without a drain of their own
    world = build_world()
    customers = referred(world, 12)
    with monkeypatch.context() as m:
        m.setattr(ledger_api, "_schedule_drain", lambda: None)
        for customer in customers:
            store_invoice(world, customer, f"in_{customer}")
    claims: list[int] = []
    real = ledger_api._claim_batch

    def counted(limit: int) -> tuple[int, int]:
        claimed, woken = real(limit)
        claims.append(claimed)
        return claimed, woken

    monkeypatch.setattr(ledger_api, "_claim_batch", counted)
    # when a drain takes them 5 at a time
    assert ledger_api.drain_events(batch_size=5) == 12
    # then it stops at the batch of 2, without claiming again for what trickles in after it
    # (every event committed since it began asked for a drain of its own)
    assert claims == [5, 5, 2]
    assert Commission.objects.count() == 12


@pytest.mark.django_db
def test_a_queued_drain_starts_after_the_configured_delay(monkeypatch, settings):
    # given a broker (not inline) and a delay of 250 ms
    from kangrow.ledger import tasks

    settings.KANGROW_EVENTS_DRAIN_DELAY_MS = 250
    queued: list[dict] = []
    monkeypatch.setattr(ledger_api, "_processed_inline", lambda: False)
    monkeypatch.setattr(tasks.drain_events, "apply_async", lambda **kw: queued.append(kw))
    monkeypatch.setattr(ledger_api.cache, "add", lambda *a, **kw: not queued)
    # when two events ask for a drain
    ledger_api._schedule_drain()
    ledger_api._schedule_drain()
    # then one drain is queued, to start a quarter of a second later with what arrived meanwhile
    assert queued == [{"countdown": 0.25}]


@pytest.mark.django_db
def test_a_refund_before_its_invoice_in_one_batch_waits_and_is_applied_by_the_same_drain():
    world = build_world(hold_days=30)
    [customer] = referred(world, 1)
    refund = store(
        world,
        "invoice.refunded",
        customer=customer,
        invoice_id="in_1",
        amount=400,
        currency="USD",
        at=later(2),
    )
    store_invoice(world, customer, "in_1", 1000, at=later(1))
    # one drain: the refund waits, the invoice earns and wakes it, the next batch applies it
    assert ledger_api.drain_events(batch_size=10) == 3
    event = PaymentEvent.objects.get(pk=refund)
    assert (event.status, event.attempts) == ("processed", 2)
    assert event.outcome in ("refund_reversed", "clawback")  # depends on today vs the hold
    assert ledger_api.sum_ledger(referral_id=Commission.objects.get().referral_id) == 300 - 120


@pytest.mark.django_db
def test_a_cancellation_before_the_signup_in_one_batch_waits_then_cancels():
    world = build_world()
    cancel = store(world, "subscription.cancelled", customer="cus_c", at=later(3))
    store(world, "customer.created", customer="cus_c", coupon=world.enrollment.coupon_code)
    store_invoice(world, "cus_c", "in_after", at=later(5))
    assert ledger_api.drain_events(batch_size=10) >= 3
    assert PaymentEvent.objects.get(pk=cancel).outcome == "referral_cancelled"
    assert set(PaymentEvent.objects.values_list("status", flat=True)) == {"processed"}
    # the invoice came before the cancellation was applied (arrival order), then earned
    assert Commission.objects.count() == 1


@pytest.mark.django_db
def test_invoices_of_one_referral_in_one_batch_follow_the_recurring_rules():
    world = build_world(recurring=False)
    [customer] = referred(world, 1)
    first = store_invoice(world, customer, "in_1", at=later(1))
    second = store_invoice(world, customer, "in_2", at=later(31))
    again = store(  # the first invoice again, under another event id
        world,
        "invoice.paid",
        customer=customer,
        invoice_id="in_1",
        amount=1000,
        currency="USD",
        at=later(1),
    )
    assert ledger_api.process_event_batch(limit=10) == 3
    outcomes = dict(PaymentEvent.objects.values_list("id", "outcome"))
    assert outcomes[first] == "commission_created"
    assert outcomes[second] == "recurring_limit"
    assert outcomes[again] == "duplicate_invoice"  # as one by one would say
    assert Commission.objects.count() == 1


@pytest.mark.django_db
def test_a_batch_costs_a_bounded_number_of_queries(django_assert_max_num_queries):
    world = build_world()
    webhooks_out_api.create_endpoint(app_id=world.app.id, url="https://example.com/hook")
    customers = referred(world, 60)
    for customer in customers:
        store_invoice(world, customer, f"in_{customer}")
    # when one batch processes 60 invoices (referrals, commissions, ledger rows, webhooks):
    # a constant number of statements, not ten per event (SQLite splits bulk INSERTs in two;
    # the affiliates' "commission earned" notes add four: app, users, insert, which went in)
    with django_assert_max_num_queries(22):
        assert ledger_api.process_event_batch(limit=100) == 60
    # then all of them earned, with one message and one delivery each
    assert PaymentEvent.objects.filter(status="processed", type="invoice.paid").count() == 60
    assert Commission.objects.count() == LedgerEntry.objects.count() == 60
    assert Message.objects.filter(type="commission.created").count() == 60
    assert Delivery.objects.filter(message__type="commission.created").count() == 60
    assert Notification.objects.filter(kind="commission.earned").count() == 60


@pytest.mark.django_db(transaction=True)
def test_concurrent_drains_take_each_event_once_and_pay_each_invoice_once(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED and concurrent inserts need PostgreSQL")
    world = build_world()
    customers = referred(world, 30, prefix="cus_race")
    invoices = [(c, f"in_{c}") for c in customers]
    # every invoice twice, under two event ids, far apart so different drains take them; the
    # commits ask for no drain (tasks run inline here): the four drains below do the work
    with monkeypatch.context() as m:
        m.setattr(ledger_api, "_schedule_drain", lambda: None)
        for customer, invoice in invoices + invoices:
            store_invoice(world, customer, invoice)
    claimed = run_at_once(*[partial(ledger_api.drain_events, batch_size=7)] * 4)
    assert sum(claimed) == 60  # no event was taken twice
    assert set(
        PaymentEvent.objects.filter(type="invoice.paid").values_list("attempts", "status")
    ) == {(1, "processed")}
    assert Commission.objects.count() == LedgerEntry.objects.count() == 30
    outcomes = list(
        PaymentEvent.objects.filter(type="invoice.paid").values_list("outcome", flat=True)
    )
    assert sorted(set(outcomes)) == ["commission_created", "duplicate_invoice"]
    assert outcomes.count("duplicate_invoice") == 30


@pytest.mark.django_db(transaction=True)
def test_concurrent_drains_never_decide_one_customer_side_by_side(monkeypatch):
    """Two drains deciding one customer's invoices at once would each miss the other's
    uncommitted commission: on a one-time campaign, the second invoice must earn nothing."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL")
    world = build_world(recurring=False)
    customers = referred(world, 24, prefix="cus_once")
    with monkeypatch.context() as m:
        m.setattr(ledger_api, "_schedule_drain", lambda: None)
        for customer in customers:
            store_invoice(world, customer, f"in_{customer}_1")
            store_invoice(world, customer, f"in_{customer}_2", at=later(31))
    assert run_at_once(*[partial(ledger_api.drain_events, batch_size=1)] * 4).errors == []
    # one commission per customer: the first invoice's, never the second's as well
    assert Commission.objects.count() == 24
    assert sorted(Commission.objects.values_list("invoice_id", flat=True)) == sorted(
        f"in_{c}_1" for c in customers
    )
    assert PaymentEvent.objects.filter(outcome="recurring_limit").count() == 24


@pytest.mark.django_db
@pytest.mark.parametrize("bps", [3000, 3333])
def test_ledger_reconciles_whatever_the_batches(bps):
    """The reconciliation property of test_reconciliation, with events stored first and then
    drained in batches of any size instead of one by one."""
    world = build_world(commission_bps=bps, recurring=True, hold_days=30)
    customers = itertools.count(1)

    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        amounts=st.lists(st.integers(min_value=0, max_value=250_000), min_size=1, max_size=4),
        data=st.data(),
        batch=st.integers(min_value=1, max_value=8),
    )
    def check(amounts, data, batch):
        customer = f"cus_q{next(customers)}_{bps}"
        events = []
        for n, amount in enumerate(amounts):
            events.append(("paid", n, amount))
            if data.draw(st.booleans()):
                events.append(("paid", n, amount))
            for refund in data.draw(st.lists(st.integers(1, max(amount, 1) + 500), max_size=3)):
                events.append(("refund", n, refund))
        order = data.draw(st.permutations(events))
        store(world, "customer.created", customer=customer, coupon=world.enrollment.coupon_code)
        refunded = [0] * len(amounts)
        for day, (kind, n, amount) in enumerate(order):
            if kind == "refund":
                refunded[n] += amount
            store(
                world,
                "invoice.paid" if kind == "paid" else "invoice.refunded",
                customer=customer,
                invoice_id=f"{customer}_in{n}",
                amount=amount,
                currency="USD",
                at=later(day),
            )
        ledger_api.drain_events(batch_size=batch)
        for _ in range(3):
            PaymentEvent.objects.filter(status="waiting").update(next_attempt_at=timezone.now())
            ledger_api.drain_events(batch_size=batch)
        assert not (
            PaymentEvent.objects.filter(customer_id=customer).exclude(status="processed").exists()
        )
        assert_reconciled(customer, amounts, refunded, bps)

    check()


@pytest.mark.django_db
def test_an_error_outside_the_savepoints_fails_the_events_with_a_backoff_not_the_drain(
    monkeypatch,
):
    world = build_world()
    customers = referred(world, 3, prefix="cus_wake")
    with monkeypatch.context() as m:
        m.setattr(ledger_api, "_schedule_drain", lambda: None)
        events = [store_invoice(world, c, f"in_{c}") for c in customers]

    def broken(self):
        raise RuntimeError("wake broke")

    # when something outside every event's savepoint keeps failing
    with monkeypatch.context() as m:
        m.setattr(ledger_api._Batch, "wake", broken)
        assert ledger_api.process_event_batch(limit=10) == 3
    # then each event counts a failed attempt and backs off (the queue is not stuck on them)
    rows = PaymentEvent.objects.filter(id__in=events)
    assert {(e.status, e.attempts) for e in rows} == {("failed", 1)}
    assert all(e.next_attempt_at > timezone.now() for e in rows)
    assert "RuntimeError: wake broke" in rows[0].last_error
    assert Commission.objects.count() == 0  # rolled back with the rest of the attempt
    # and once it is fixed, the next attempt earns
    PaymentEvent.objects.filter(id__in=events).update(next_attempt_at=timezone.now())
    assert ledger_api.process_due_events() == 3
    assert Commission.objects.count() == 3
