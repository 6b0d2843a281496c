"""The ledger api: commissions from paid invoices, the recurring limit, trials, refunds,
clawbacks, maturity, balances, out-of-order events and cancellation alerts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kangrow.ledger import api as ledger_api
from kangrow.ledger.models import Commission, LedgerEntry, PaymentEvent
from kangrow.notifications.models import Notification, OutboxEmail
from kangrow.tracking import api as tracking_api

from .helpers import T0, apply, build_world, later, paid

pytestmark = pytest.mark.django_db


def coupon(world):
    return world.enrollment.coupon_code


def balances(world):
    return ledger_api.get_balances(affiliate_id=world.affiliate.id)


def test_paid_invoice_with_coupon_creates_one_commission(world):
    # given a customer who pays 49.00 with the affiliate's coupon
    # when the invoice.paid event is processed
    status = paid(world, "in_1", 4900, coupon=coupon(world))
    # then one commission of 30 % (14.70) exists with one ledger row
    assert status == "processed"
    commission = Commission.objects.get()
    assert (commission.invoice_amount, commission.amount, commission.rate_bps) == (4900, 1470, 3000)
    assert commission.affiliate_id == world.affiliate.id
    assert list(LedgerEntry.objects.values_list("kind", "amount")) == [("commission", 1470)]


def test_a_commission_notifies_its_affiliate_once_in_app(world, django_capture_on_commit_callbacks):
    # given a referred customer whose invoice is paid, and the same invoice replayed
    with django_capture_on_commit_callbacks(execute=True):
        paid(world, "in_1", 4900, coupon=coupon(world), customer_email="bob.buyer@example.org")
        paid(world, "in_1", 4900, coupon=coupon(world))
    # then one commission.earned notification names the app, the masked customer and the amount
    note = Notification.objects.get(kind="commission.earned")
    commission = Commission.objects.get()
    assert note.user_id == world.affiliate.id
    assert note.title == "You earned 14.70 USD from InvoicePro"
    assert "bob.buyer@example.org" not in note.body and "49.00 USD" in note.body
    assert note.data["commission_id"] == str(commission.id) and note.data["amount"] == 1470
    # emailed only when the affiliate asks for it (off by default)
    assert not OutboxEmail.objects.filter(notification=note).exists()


def test_replayed_invoice_from_another_event_id_creates_no_second_commission(world):
    paid(world, "in_1", 4900, coupon=coupon(world))
    # when the same invoice arrives again under another event id
    status = paid(world, "in_1", 4900, coupon=coupon(world))
    # then it is processed as a duplicate and nothing else is written
    assert status == "processed"
    assert PaymentEvent.objects.filter(outcome="duplicate_invoice").count() == 1
    assert Commission.objects.count() == 1
    assert LedgerEntry.objects.count() == 1


def test_same_external_id_is_stored_once(world):
    first, _ = apply(world, "customer.created", external_id="same", coupon=coupon(world))
    second, created = ledger_api.ingest_event(
        source="test",
        external_id="same",
        app_id=world.app.id,
        type="customer.created",
        payload={"customer_id": "cus_other"},
        occurred_at=T0,
    )
    assert (second, created) == (first, False)
    assert PaymentEvent.objects.count() == 1


def test_an_event_is_stored_with_one_statement_and_a_repeat_rolls_nothing_back(world):
    # (inside the test's transaction: a transaction of its own would show here as a savepoint,
    # as BEGIN and COMMIT where the API calls it in autocommit)
    def store(external_id: str) -> ledger_api.StoredEvent:
        return ledger_api.store_event(source="test", external_id=external_id,
                                      app_id=world.app.id, type="customer.created",
                                      payload={"customer_id": "cus_1"}, occurred_at=T0)  # fmt: skip

    with CaptureQueriesContext(connection) as new:
        first = store("evt_once")
    with CaptureQueriesContext(connection) as repeat:
        again = store("evt_once")
    # then a new event is one INSERT that skips a conflict, and a repeat is that INSERT (which
    # stores nothing) and the read of the stored event: no savepoint, no rollback
    assert first.created and not again.created and again.id == first.id
    assert [q["sql"].split()[0] for q in new.captured_queries] == ["INSERT"]
    assert "ON CONFLICT" in new.captured_queries[0]["sql"]
    assert [q["sql"].split()[0] for q in repeat.captured_queries] == ["INSERT", "SELECT"]
    assert PaymentEvent.objects.filter(external_id="evt_once").count() == 1


def test_pending_during_hold_then_payable_after_maturity(world):
    # given an invoice paid just now (30-day hold)
    now = timezone.now()
    paid(world, "in_1", 10000, coupon=coupon(world), at=now)
    assert [(b.currency, b.pending, b.payable, b.paid) for b in balances(world)] == [
        ("USD", 3000, 0, 0)
    ]
    # when the maturity job runs before and after the hold period
    assert ledger_api.mature_commissions(now=now + timedelta(days=29)) == 0
    assert ledger_api.mature_commissions(now=now + timedelta(days=30, seconds=1)) == 1
    # then the money moved from pending to payable
    assert [(b.pending, b.payable) for b in balances(world)] == [(0, 3000)]
    assert Commission.objects.get().status == "payable"


def test_trial_invoice_earns_nothing_and_first_paid_invoice_earns(world):
    # given a $0 trial invoice carrying the coupon
    assert paid(world, "in_trial", 0, coupon=coupon(world)) == "processed"
    # when the first real invoice after the trial is paid (no coupon on it)
    paid(world, "in_2", 2900, at=later(14))
    # then only the paid invoice earns
    assert list(Commission.objects.values_list("invoice_id", "amount")) == [("in_2", 870)]
    assert PaymentEvent.objects.get(invoice_id="in_trial").outcome == "zero_amount"


def test_recurring_limit_counts_months_from_first_paid_invoice():
    # given a campaign paying 3 months
    w = build_world(recurring_months=3)
    paid(w, "in_0", 1000, coupon=w.enrollment.coupon_code, at=T0)
    # when invoices of months 1 to 4 are paid
    for month in range(1, 5):
        paid(w, f"in_{month}", 1000, at=T0 + timedelta(days=31 * month - month))
    # then months 0, 1 and 2 earn; 3 and 4 do not
    assert sorted(Commission.objects.values_list("invoice_id", flat=True)) == [
        "in_0",
        "in_1",
        "in_2",
    ]
    assert PaymentEvent.objects.filter(outcome="recurring_limit").count() == 2


def test_non_recurring_campaign_pays_first_invoice_only():
    w = build_world(commission_bps=2000, recurring=False)
    paid(w, "in_0", 1000, coupon=w.enrollment.coupon_code)
    paid(w, "in_1", 1000, at=later(30))
    assert list(Commission.objects.values_list("invoice_id", "amount")) == [("in_0", 200)]


def test_self_referral_earns_nothing(world):
    # given the affiliate buying with their own coupon under a Gmail-style alias
    status = paid(world, "in_1", 4900, coupon=coupon(world), customer_email="Jane+x@example.com")
    assert status == "processed"
    assert Commission.objects.count() == 0
    assert PaymentEvent.objects.get().outcome == "self_referral"


def test_partial_then_full_refund_while_pending_reverses_in_proportion(world):
    now = timezone.now()
    paid(world, "in_1", 4999, coupon=coupon(world), at=now)  # commission 1499.7 -> 1500
    # when 1/3 and then the rest are refunded
    apply(world, "invoice.refunded", at=now, invoice_id="in_1", amount=1666, currency="USD")
    apply(world, "invoice.refunded", at=now, invoice_id="in_1", amount=3333, currency="USD")
    # then reversal rows bring the commission to exactly zero
    rows = list(LedgerEntry.objects.order_by("created_at").values_list("kind", "amount"))
    assert rows == [("commission", 1500), ("refund_reversal", -500), ("refund_reversal", -1000)]
    assert [(b.pending, b.payable) for b in balances(world)] == [(0, 0)]


def test_refund_after_maturity_writes_a_clawback(world):
    # given a commission that is already payable (paid long ago)
    paid(world, "in_1", 10000, coupon=coupon(world), at=later(0))
    assert Commission.objects.get().status == "payable"
    # when half of the invoice is refunded
    apply(world, "invoice.refunded", at=later(60), invoice_id="in_1", amount=5000, currency="USD")
    # then a clawback row reduces the payable balance
    assert list(LedgerEntry.objects.filter(kind="clawback").values_list("amount")) == [(-1500,)]
    assert [(b.pending, b.payable) for b in balances(world)] == [(0, 1500)]


def test_refund_before_its_invoice_waits_then_applies(world):
    # given a refund that arrives before its invoice
    refund_id, status = apply(
        world, "invoice.refunded", invoice_id="in_1", amount=4900, currency="USD", at=later(2)
    )
    assert status == "waiting"
    event = PaymentEvent.objects.get(pk=refund_id)
    assert event.attempts == 1 and event.next_attempt_at is not None
    assert "in_1" in event.last_error
    # when the invoice arrives and the waiting refund is retried
    paid(world, "in_1", 4900, coupon=coupon(world))
    assert ledger_api.retry_event(event_id=refund_id) == "processed"
    # then the commission is fully reversed
    assert ledger_api.sum_ledger(referral_id=Commission.objects.get().referral_id) == 0
    assert PaymentEvent.objects.filter(status="processed").count() == 2


def test_invoice_before_signup_waits_and_is_woken_by_the_signup(
    world, django_capture_on_commit_callbacks
):
    # given an invoice without coupon or ref for a customer KanGrow has not seen
    invoice_id, status = apply(
        world, "invoice.paid", invoice_id="in_1", amount=1000, currency="USD", at=later(1)
    )
    assert status == "waiting"
    # when the signup with the coupon is processed (its commit wakes waiting events)
    with django_capture_on_commit_callbacks(execute=True):
        apply(world, "customer.created", coupon=coupon(world))
    # then the invoice has been applied
    assert PaymentEvent.objects.get(pk=invoice_id).status == "processed"
    assert Commission.objects.get().amount == 300


def test_invoice_of_a_customer_known_not_to_be_referred_settles_at_once(world):
    apply(world, "customer.created", customer_id="cus_plain")
    _, status = apply(
        world,
        "invoice.paid",
        customer_id="cus_plain",
        invoice_id="in_1",
        amount=1000,
        currency="USD",
    )
    assert status == "processed"
    assert PaymentEvent.objects.get(invoice_id="in_1").outcome == "not_referred"
    assert Commission.objects.count() == 0


def test_waiting_gives_up_after_max_attempts_without_losing_the_event(world):
    event_id, _ = apply(
        world, "invoice.paid", customer_id="cus_x", invoice_id="in_x", amount=1000, currency="USD"
    )
    for _ in range(ledger_api.MAX_WAIT_ATTEMPTS - 1):
        ledger_api.retry_event(event_id=event_id)
    event = PaymentEvent.objects.get(pk=event_id)
    assert (event.status, event.outcome, event.attempts) == (
        "processed",
        "gave_up_waiting",
        ledger_api.MAX_WAIT_ATTEMPTS,
    )
    assert event.last_error == "no referral yet for customer cus_x"


def test_a_refund_that_gave_up_is_reopened_when_its_invoice_finally_earns(
    world, django_capture_on_commit_callbacks
):
    # given a refund whose invoice did not come for MAX_WAIT_ATTEMPTS tries
    refund_id, _ = apply(
        world, "invoice.refunded", invoice_id="in_1", amount=1000, currency="USD", at=later(3)
    )
    for _ in range(ledger_api.MAX_WAIT_ATTEMPTS - 1):
        ledger_api.retry_event(event_id=refund_id)
    assert PaymentEvent.objects.get(pk=refund_id).outcome == "gave_up_waiting"
    # when the invoice arrives at last
    with django_capture_on_commit_callbacks(execute=True):
        paid(world, "in_1", 1000, coupon=coupon(world))
    # then the refund is applied after all: nothing was dropped
    refund = PaymentEvent.objects.get(pk=refund_id)
    assert (refund.status, refund.outcome) == ("processed", "clawback")  # invoice long past hold
    assert ledger_api.sum_ledger(referral_id=Commission.objects.get().referral_id) == 0


def test_process_due_events_retries_only_due_events(world):
    event_id, _ = apply(world, "invoice.paid", invoice_id="in_1", amount=1000, currency="USD")
    assert ledger_api.process_due_events() == 0  # backoff not over yet
    PaymentEvent.objects.filter(pk=event_id).update(next_attempt_at=timezone.now())
    apply(world, "customer.created", coupon=coupon(world))  # now attributable
    PaymentEvent.objects.filter(pk=event_id).update(next_attempt_at=timezone.now())
    assert ledger_api.process_due_events() == 1
    assert PaymentEvent.objects.get(pk=event_id).status == "processed"


def test_cancellation_notifies_once_with_app_campaign_customer_and_lost_commission(
    world, django_capture_on_commit_callbacks
):
    # given a referred customer with two paid invoices
    paid(world, "in_1", 4900, coupon=coupon(world), customer_email="bob.buyer@example.org")
    paid(world, "in_2", 5900, at=later(31))
    # when the subscription is cancelled, and the event arrives twice under two ids
    with django_capture_on_commit_callbacks(execute=True):
        apply(world, "subscription.cancelled", at=later(40))
        apply(world, "subscription.cancelled", at=later(41))
    # then the referral is cancelled and exactly one notification and one email exist
    referral = tracking_api.get_referral(app_id=world.app.id, customer_id="cus_1")
    assert referral.status == "cancelled"
    note = Notification.objects.get(kind="referral.cancelled")
    assert note.user_id == world.affiliate.id
    assert note.kind == "referral.cancelled"
    masked = referral.customer_email_masked
    assert note.title == f"{masked} cancelled InvoicePro"
    assert note.body == (
        f"{masked}, a customer you referred to InvoicePro (campaign Launch), cancelled their "
        "subscription. Monthly commission lost: 17.70 USD."
    )
    assert note.data["monthly_commission_lost"] == 1770
    assert list(
        PaymentEvent.objects.filter(type="subscription.cancelled")
        .values_list("outcome", flat=True)
        .order_by("created_at")
    ) == ["referral_cancelled", "already_cancelled"]
    email = OutboxEmail.objects.get(notification=note)
    assert email.status == "sent"
    sent = [m for m in mail.outbox if m.subject == note.title]
    assert len(sent) == 1
    assert sent[0].to == ["jane@example.com"]
    assert "17.70 USD" in sent[0].body and "Launch" in sent[0].body


def test_no_commission_after_cancellation(world):
    paid(world, "in_1", 1000, coupon=coupon(world))
    apply(world, "subscription.cancelled", at=later(5))
    paid(world, "in_2", 1000, at=later(31))
    assert list(Commission.objects.values_list("invoice_id", flat=True)) == ["in_1"]
    assert PaymentEvent.objects.get(invoice_id="in_2").outcome == "after_cancellation"


def test_cancel_before_first_payment_waits_then_ends_cancelled_with_zero_lost(
    world,
    django_capture_on_commit_callbacks,
):
    # given a cancellation for a customer not yet attributed
    cancel_id, status = apply(world, "subscription.cancelled", at=later(3))
    assert status == "waiting"
    # when the signup arrives (and wakes the cancellation)
    with django_capture_on_commit_callbacks(execute=True):
        apply(world, "subscription.created", coupon=coupon(world), at=later(1))
    # then the referral is cancelled, nothing was earned, the affiliate heard "0.00 USD" lost
    assert PaymentEvent.objects.get(pk=cancel_id).outcome == "referral_cancelled"
    assert tracking_api.get_referral(app_id=world.app.id, customer_id="cus_1").status == (
        "cancelled"
    )
    assert Commission.objects.count() == 0
    assert Notification.objects.get(kind="referral.cancelled").data["monthly_commission_lost"] == 0
    # and a later invoice earns nothing
    paid(world, "in_1", 1000, at=later(10))
    assert Commission.objects.count() == 0


def test_refund_in_another_currency_fails_visibly_and_writes_nothing(world):
    paid(world, "in_1", 1000, coupon=coupon(world))
    event_id, status = apply(
        world, "invoice.refunded", invoice_id="in_1", amount=500, currency="EUR"
    )
    assert status == "failed"
    event = PaymentEvent.objects.get(pk=event_id)
    assert event.last_error == "ValueError: refund in EUR for invoice in_1 paid in USD"
    assert event.next_attempt_at is not None
    assert LedgerEntry.objects.count() == 1


def test_void_reverses_what_is_left_once_and_later_refunds_find_nothing(world):
    # given a commission (past its hold) that was already half refunded
    paid(world, "in_1", 10000, coupon=coupon(world))
    apply(world, "invoice.refunded", invoice_id="in_1", amount=5000, currency="USD")
    commission = Commission.objects.get()
    # when staff void it, twice
    first = ledger_api.void_commission(commission_id=commission.id, reason="self-referral ring")
    second = ledger_api.void_commission(commission_id=commission.id, reason="again")
    # then one clawback takes the rest and nothing else changes
    assert (first, second) == (1500, 0)
    rows = list(LedgerEntry.objects.order_by("created_at").values_list("kind", "amount", "note"))
    assert rows[-1] == ("clawback", -1500, "self-referral ring")
    assert ledger_api.sum_ledger(referral_id=commission.referral_id) == 0
    commission.refresh_from_db()
    assert commission.reversed_amount == commission.amount == 3000  # its net is 0 too
    assert ledger_api.reconcile_commission_nets() == []
    # and a later refund reverses nothing more
    apply(world, "invoice.refunded", invoice_id="in_1", amount=5000, currency="USD")
    assert PaymentEvent.objects.order_by("-created_at").first().outcome == "refund_nothing_left"
    assert ledger_api.sum_ledger(referral_id=commission.referral_id) == 0


def test_a_commission_refused_by_another_constraint_fails_the_event_instead_of_passing_as_paid(
    world, monkeypatch
):
    # given a commission the database refuses for a reason other than its invoice being paid
    # (here a reversed_amount outside 0..amount)
    made = ledger_api._new_commission

    def broken(*args, **kwargs):
        commission, entry, message = made(*args, **kwargs)
        commission.reversed_amount = commission.amount + 1
        return commission, entry, message

    monkeypatch.setattr(ledger_api, "_new_commission", broken)
    # when its invoice.paid is processed
    status = paid(world, "in_1", 10000, coupon=coupon(world))
    # then the event fails (and is retried later), it is not recorded as a duplicate invoice
    assert status == "failed"
    event = PaymentEvent.objects.get()
    assert event.outcome != "duplicate_invoice" and event.next_attempt_at is not None
    assert not Commission.objects.exists() and not LedgerEntry.objects.exists()
