"""Who a payout run pays: the minimum per currency, clawbacks, account standing, PayPal email."""

from __future__ import annotations

import pytest
from django.utils import timezone

from kangrow.payouts import api
from kangrow.payouts.models import PayoutBatch, PayoutItem, PayoutRun

from .helpers import affiliate, balance, earn, refund, world

pytestmark = pytest.mark.django_db


def lines(preview):
    return sorted((line.affiliate_email, line.currency, line.amount) for line in preview.lines)


def test_threshold_edge_9999_is_not_paid_10000_is():
    # given one affiliate with 99.99 and one with 100.00, both with a confirmed PayPal email
    w = world()
    below = affiliate(w, "below@example.com")
    at = affiliate(w, "at@example.com")
    earn(w, below, 9999)
    earn(w, at, 9000)
    earn(w, at, 1000)
    # when the run is previewed and then claimed
    preview = api.preview_payout_run()
    run_id, batch_ids = api.claim_payout_run(source="command")
    # then only the 100.00 affiliate is paid, to the cent
    assert lines(preview) == [("at@example.com", "USD", 10000)]
    assert preview.totals == {"USD": 10000}
    item = PayoutItem.objects.get()
    assert (item.affiliate_id, item.amount, item.currency, item.receiver) == (
        at.id,
        10000,
        "USD",
        "at-pp@example.com",
    )
    assert PayoutRun.objects.get(pk=run_id).totals == {"USD": 10000}
    assert len(batch_ids) == 1
    assert balance(at) == {
        "pending": 0,
        "payable": 10000,
        "paid": 0,
        "in_payout": 10000,
        "available": 0,
    }
    assert balance(below)["available"] == 9999


def test_currencies_are_held_to_the_minimum_separately():
    w = world()
    jane = affiliate(w, "jane@example.com")
    earn(w, jane, 10000, currency="USD")
    earn(w, jane, 9999, currency="EUR")
    earn(w, jane, 12000, currency="GBP")
    preview = api.preview_payout_run()
    assert lines(preview) == [
        ("jane@example.com", "GBP", 12000),
        ("jane@example.com", "USD", 10000),
    ]
    assert preview.totals == {"GBP": 12000, "USD": 10000}
    overview = api.get_payout_overview(user_id=jane.id)
    eur = next(c for c in overview.currencies if c.currency == "EUR")
    assert (eur.eligible, eur.progress_percent) == (False, 99)
    assert "Below the minimum of 100.00 EUR: 0.01 EUR to go." in eur.reasons


def test_clawback_brings_a_balance_below_the_minimum():
    w = world()
    jane = affiliate(w, "jane@example.com")
    invoice = earn(w, jane, 10500)
    refund(w, invoice, 501)  # 100 % campaign: 5.01 clawed back
    assert balance(jane)["available"] == 9999
    assert api.preview_payout_run().lines == ()
    assert api.claim_payout_run(source="command") == (None, [])
    assert PayoutBatch.objects.count() == 0


def test_clawback_of_a_paid_commission_is_carried_into_the_next_payout(client, fake):
    w = world()
    jane = affiliate(w, "jane@example.com")
    first = earn(w, jane, 20000)
    api.run_payouts(source="command", client=client)
    fake.settle(fake.batch_for(str(PayoutBatch.objects.get().sender_batch_id)).payout_batch_id)
    api.sync_open_batches(client=client)
    assert balance(jane) == {
        "pending": 0,
        "payable": 0,
        "paid": 20000,
        "in_payout": 0,
        "available": 0,
    }
    # when the paid invoice is refunded in part and new money is earned
    refund(w, first, 3000)
    earn(w, jane, 13000)
    # then the next payout pays the new money minus the clawback
    assert lines(api.preview_payout_run()) == [("jane@example.com", "USD", 10000)]


@pytest.mark.parametrize(
    ("flags", "paypal"),
    [
        ({"banned": True}, "confirmed"),
        ({"blocked": True}, "confirmed"),
        ({"deleted_at": "now"}, "confirmed"),
        ({"approved": False}, "confirmed"),
        ({}, "unconfirmed"),
        ({}, None),
    ],
)
def test_excluded_affiliates_are_not_paid_and_keep_their_money(flags, paypal):
    w = world()
    jane = affiliate(w, "jane@example.com", paypal=paypal)
    earn(w, jane, 25000)
    update = {k: (timezone.now() if v == "now" else v) for k, v in flags.items()}
    if "approved" in update:
        update["approved_affiliate"] = update.pop("approved")
    type(jane).objects.filter(pk=jane.pk).update(**update)
    assert api.preview_payout_run().lines == ()
    assert api.claim_payout_run(source="command") == (None, [])
    assert PayoutItem.objects.count() == 0
    assert balance(jane)["available"] == 25000


def test_overview_explains_why_money_is_not_paid(settings):
    w = world()
    jane = affiliate(w, "jane@example.com", paypal="unconfirmed")
    earn(w, jane, 4000)
    overview = api.get_payout_overview(user_id=jane.id)
    usd = overview.currencies[0]
    assert (usd.available, usd.minimum, usd.progress_percent, usd.eligible) == (
        4000,
        10000,
        40,
        False,
    )
    assert usd.reasons == (
        "Confirm your PayPal email jane-pp@example.com with the link we sent to it.",
        "Below the minimum of 100.00 USD: 60.00 USD to go.",
    )
    settings.KANGROW_PAYOUT_MINIMUM = 4000
    api.set_confirmed_paypal_email(user_id=jane.id, email="jane-pp@example.com")
    assert api.get_payout_overview(user_id=jane.id).currencies[0].eligible is True


def test_withdrawal_request_is_refused_when_not_eligible_and_cleared_by_a_run():
    w = world()
    jane = affiliate(w, "jane@example.com")
    earn(w, jane, 5000)
    with pytest.raises(api.PayoutError) as exc:
        api.request_withdrawal(user_id=jane.id)
    assert exc.value.code == "not_eligible"
    assert api.get_paypal_email(user_id=jane.id).withdrawal_requested_at is None
    earn(w, jane, 5000)
    assert api.request_withdrawal(user_id=jane.id).withdrawal_requested_at is not None
    assert [line.withdrawal_requested for line in api.preview_payout_run().lines] == [True]
    api.claim_payout_run(source="command")
    assert api.get_paypal_email(user_id=jane.id).withdrawal_requested_at is None


def test_a_run_chunks_into_batches_of_at_most_the_paypal_limit(monkeypatch):
    # given five eligible affiliates and a batch limit of two items
    w = world()
    people = [affiliate(w, f"p{n}@example.com") for n in range(5)]
    for n, person in enumerate(people):
        earn(w, person, 10000 + n)
    monkeypatch.setattr(api, "MAX_BATCH_ITEMS", 2)
    # when the run claims
    run_id, batch_ids = api.claim_payout_run(source="command")
    # then three batches of 2, 2 and 1 items hold every affiliate once, to the cent
    sizes = [PayoutItem.objects.filter(batch_id=b).count() for b in batch_ids]
    assert sizes == [2, 2, 1]
    assert sum(PayoutItem.objects.values_list("amount", flat=True)) == 50010
    assert PayoutRun.objects.get(pk=run_id).item_count == 5
    assert len(set(PayoutBatch.objects.values_list("sender_batch_id", flat=True))) == 3


def test_beat_schedules_the_payout_tasks(settings):
    from kangrow.payouts import tasks

    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {tasks.run_scheduled.name, tasks.sync_open_batches.name} <= scheduled
    assert tasks.run_scheduled.name == "payouts.run_scheduled"
    assert tasks.sync_open_batches.name == "payouts.sync_open_batches"


def test_scheduled_task_runs_a_payout(fake, settings):
    from kangrow.payouts import tasks

    settings.PAYPAL_API_BASE = fake.base_url
    settings.PAYPAL_CLIENT_ID, settings.PAYPAL_CLIENT_SECRET = fake.client_id, fake.client_secret
    w = world()
    jane = affiliate(w, "jane@example.com")
    earn(w, jane, 10000)
    assert tasks.run_scheduled.delay().get() == 1
    assert PayoutRun.objects.get().source == "schedule"
    assert len(fake.batches) == 1
