"""What each PayPal item status does to the ledger, the balance and the notifications."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from kangrow.integrations.paypal import ItemResult
from kangrow.ledger.models import Commission, LedgerEntry
from kangrow.notifications.models import Notification
from kangrow.payouts import api
from kangrow.payouts.models import PayoutBatch, PayoutItem

from .helpers import affiliate, balance, earn, fake_paid, ledger_sum, world

pytestmark = pytest.mark.django_db

MONEY_BACK = ["FAILED", "RETURNED", "BLOCKED", "REFUNDED", "REVERSED", "DENIED"]
WAITING = ["PENDING", "ONHOLD", "UNCLAIMED"]


def pay_one(fake, client, status: str, amount: int = 12345):
    """An affiliate whose PayPal account answers `status`, paid in one run, batch settled."""
    w = world()
    jane = affiliate(w, "jane@example.com")
    fake.script_outcome("jane-pp@example.com", status)
    earn(w, jane, amount)
    summary = api.run_payouts(source="command", client=client)
    assert summary.items == 1 and summary.totals == {"USD": amount}
    batch = PayoutBatch.objects.get()
    fake.settle(batch.payout_batch_id)
    api.sync_open_batches(client=client)
    return w, jane


def kinds(user):
    return list(
        LedgerEntry.objects.filter(affiliate_id=user.id)
        .order_by("created_at", "id")
        .values_list("kind", "amount")
    )


def notes(user):
    """The payout notifications (the commission.earned one from the set-up is not ours)."""
    return list(
        Notification.objects.filter(user=user, kind__startswith="payout.")
        .order_by("created_at")
        .values_list("kind", "title")
    )


def test_success_marks_paid_and_notifies_once(fake, client):
    w, jane = pay_one(fake, client, "SUCCESS")
    item = PayoutItem.objects.get()
    assert (item.state, item.transaction_status) == ("paid", "SUCCESS")
    assert balance(jane) == {
        "pending": 0,
        "payable": 0,
        "paid": 12345,
        "in_payout": 0,
        "available": 0,
    }
    assert kinds(jane) == [("commission", 12345), ("payout", -12345), ("payout_sent", 12345)]
    assert set(Commission.objects.values_list("status", flat=True)) == {"paid"}
    assert notes(jane) == [("payout.sent", "Payout sent: 123.45 USD")]
    assert PayoutBatch.objects.get().status == "completed"
    # when the poll runs again, nothing changes
    api.sync_open_batches(client=client)
    assert kinds(jane) == [("commission", 12345), ("payout", -12345), ("payout_sent", 12345)]
    assert fake_paid(fake) == {"jane-pp@example.com": 12345}


@pytest.mark.parametrize("status", MONEY_BACK)
def test_money_back_statuses_return_the_money_and_tell_why(fake, client, status):
    w, jane = pay_one(fake, client, status)
    item = PayoutItem.objects.get()
    assert (item.state, item.transaction_status) == ("returned", status)
    assert balance(jane) == {
        "pending": 0,
        "payable": 12345,
        "paid": 0,
        "in_payout": 0,
        "available": 12345,
    }
    assert kinds(jane) == [("commission", 12345), ("payout", -12345), ("payout_return", 12345)]
    assert set(Commission.objects.values_list("status", flat=True)) == {"payable"}
    failed = Notification.objects.get(user=jane, kind__startswith="payout.")
    assert (failed.kind, failed.title) == ("payout.failed", "Payout of 123.45 USD came back")
    assert failed.data["status"] == status
    assert api._REASONS[status] in failed.body
    # and the next run pays the same money again, under new ids
    fake.script_outcome("jane-pp@example.com", "SUCCESS")
    api.run_payouts(source="command", client=client)
    second = PayoutItem.objects.exclude(pk=item.pk).get()
    assert second.amount == 12345 and second.sender_item_id != item.sender_item_id


@pytest.mark.parametrize("status", WAITING)
def test_waiting_statuses_keep_the_money_in_flight(fake, client, status):
    w, jane = pay_one(fake, client, status)
    item = PayoutItem.objects.get()
    assert (item.state, item.transaction_status) == ("in_flight", status)
    assert balance(jane) == {
        "pending": 0,
        "payable": 12345,
        "paid": 0,
        "in_payout": 12345,
        "available": 0,
    }
    assert notes(jane) == []
    assert PayoutBatch.objects.get().status == "submitted"
    # a second run does not pay the money in flight again
    assert api.run_payouts(source="command", client=client).items == 0


def test_unclaimed_for_30_days_is_cancelled_and_returned(fake, client):
    w, jane = pay_one(fake, client, "UNCLAIMED")
    # within 30 days nothing happens
    assert (
        api.sync_open_batches(client=client, now=timezone.now() + timedelta(days=29))[
            "cancelled_unclaimed"
        ]
        == 0
    )
    # after 30 days the item is cancelled at PayPal and the money is back
    counts = api.sync_open_batches(client=client, now=timezone.now() + timedelta(days=31))
    assert counts["cancelled_unclaimed"] == 1
    item = PayoutItem.objects.get()
    assert (item.state, item.transaction_status) == ("returned", "RETURNED")
    assert fake.items[item.payout_item_id].transaction_status == "RETURNED"
    assert balance(jane)["available"] == 12345
    assert [k for k, _ in notes(jane)] == ["payout.failed"]


def test_reversal_after_success_takes_paid_back_to_payable(fake, client):
    w, jane = pay_one(fake, client, "SUCCESS")
    item = PayoutItem.objects.get()
    reversed_result = ItemResult(
        payout_item_id=item.payout_item_id,
        payout_batch_id=PayoutBatch.objects.get().payout_batch_id,
        transaction_status="REVERSED",
        sender_item_id=str(item.sender_item_id),
        amount_minor=12345,
        currency="USD",
        receiver=item.receiver,
    )
    assert api.apply_item_result(result=reversed_result) == "returned"
    assert api.apply_item_result(result=reversed_result) == "already_returned"
    assert balance(jane) == {
        "pending": 0,
        "payable": 12345,
        "paid": 0,
        "in_payout": 0,
        "available": 12345,
    }
    assert ledger_sum(jane) == 12345  # the payout/return and sent/reversal pairs cancel out
    assert set(Commission.objects.values_list("status", flat=True)) == {"payable"}
    assert [k for k, _ in notes(jane)] == ["payout.sent", "payout.failed"]


def test_a_stale_waiting_status_after_success_changes_nothing(fake, client):
    w, jane = pay_one(fake, client, "SUCCESS")
    item = PayoutItem.objects.get()
    stale = ItemResult(
        payout_item_id=item.payout_item_id,
        payout_batch_id="X",
        transaction_status="PENDING",
        sender_item_id=str(item.sender_item_id),
        amount_minor=12345,
        currency="USD",
        receiver=item.receiver,
    )
    assert api.apply_item_result(result=stale) == "already_paid"
    item.refresh_from_db()
    assert (item.state, item.transaction_status) == ("paid", "SUCCESS")


def test_batch_refused_by_paypal_validation_returns_every_item(fake, client):
    # given a committed batch whose receiver PayPal's contract refuses (over 127 characters)
    w = world()
    jane = affiliate(w, "jane@example.com")
    earn(w, jane, 10000)
    api.claim_payout_run(source="command")
    PayoutItem.objects.update(receiver="j" * 120 + "@example.com")
    # when it is submitted
    status = api.submit_batch(batch_id=PayoutBatch.objects.get().id, client=client)
    # then nothing reached PayPal, the batch is rejected and the money is back, with a reason
    assert status == "rejected"
    assert fake.batches == {}
    assert PayoutItem.objects.get().state == "returned"
    assert balance(jane)["available"] == 10000
    note = Notification.objects.get(user=jane, kind="payout.failed")
    assert "PayPal refused the payout request" in note.body
    # and the history says it was not sent
    assert api.list_payouts(affiliate_id=jane.id)[0].status_label == (
        "Not sent: money back in your balance"
    )


def test_paypal_email_longer_than_paypal_accepts_is_refused():
    from django.core.exceptions import ValidationError

    w = world()
    jane = affiliate(w, "jane@example.com", paypal=None)
    with pytest.raises(ValidationError) as exc:
        api.request_paypal_email_change(user_id=jane.id, email="j" * 120 + "@example.com")
    assert exc.value.message_dict == {
        "email": ["PayPal accepts email addresses of at most 127 characters."]
    }
    assert api.get_paypal_email(user_id=jane.id) is None


def test_refusal_of_a_re_sent_batch_keeps_the_money_held(fake, client):
    # given a first attempt whose outcome is unknown (PayPal answered 500)
    w = world()
    jane = affiliate(w, "jane@example.com")
    earn(w, jane, 10000)
    fake.inject("create_batch", "500")
    api.run_payouts(source="command", client=client)
    batch = PayoutBatch.objects.get()
    assert (batch.status, batch.attempts) == ("submitting", 1)
    # when the re-send is refused as invalid
    PayoutItem.objects.update(receiver="j" * 120 + "@example.com")
    status = api.submit_batch(batch_id=batch.id, client=client)
    # then the money is not released (PayPal might hold the first attempt): held, retried
    batch.refresh_from_db()
    assert (status, batch.status, batch.attempts) == ("submitting", "submitting", 2)
    assert batch.last_error.startswith("PayPalValidationError")
    assert balance(jane)["in_payout"] == 10000
    assert PayoutItem.objects.get().state == "in_flight"
    assert Notification.objects.filter(kind="payout.failed").count() == 0
