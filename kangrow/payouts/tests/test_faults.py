"""Fault injection against the fake PayPal: whatever fails between our commit and PayPal's
answer, every affiliate is paid exactly once and no commission is lost (totals to the cent)."""

from __future__ import annotations

from functools import partial

import pytest
from django.db import connection

from kangrow.core.testing import run_at_once
from kangrow.payouts import api
from kangrow.payouts.models import PayoutBatch, PayoutItem

from .helpers import affiliate, balance, earn, fake_paid, world

EXPECTED = {"ann-pp@example.com": 10000, "bob-pp@example.com": 23456, "cy-pp@example.com": 99999}


def three_affiliates():
    w = world()
    people = {}
    for name, amount in [("ann", 10000), ("bob", 23456), ("cy", 99999)]:
        user = affiliate(w, f"{name}@example.com")
        earn(w, user, amount - 1)
        earn(w, user, 1)
        people[name] = user
    return w, people


def settle_everything(fake, client):
    for batch in PayoutBatch.objects.exclude(payout_batch_id=None):
        fake.settle(batch.payout_batch_id)
    api.sync_open_batches(client=client)


def assert_paid_exactly_once(fake, people):
    # PayPal holds one batch per sender_batch_id and paid each receiver its money, once
    assert fake_paid(fake) == EXPECTED
    assert sorted(b.sender_batch_id for b in fake.batches.values()) == sorted(
        str(s) for s in PayoutBatch.objects.values_list("sender_batch_id", flat=True)
    )
    assert PayoutItem.objects.count() == 3
    for name, user in people.items():
        amount = EXPECTED[f"{name}-pp@example.com"]
        assert balance(user) == {
            "pending": 0,
            "payable": 0,
            "paid": amount,
            "in_payout": 0,
            "available": 0,
        }
    assert set(PayoutBatch.objects.values_list("status", flat=True)) == {"completed"}


@pytest.mark.django_db
@pytest.mark.parametrize("fault", ["timeout_after_accept", "500_after_accept"])
def test_paypal_accepts_then_the_answer_is_lost(fake, client, fault):
    # given PayPal accepts the batch but we never see the answer
    w, people = three_affiliates()
    fake.inject("create_batch", fault)
    summary = api.run_payouts(source="command", client=client)
    batch = PayoutBatch.objects.get()
    assert summary.batches == {str(batch.sender_batch_id): "submitting"}
    assert len(fake.batches) == 1  # PayPal has it
    # when the next attempt re-sends the same sender_batch_id
    api.sync_open_batches(client=client)
    # then PayPal's duplicate answer is read as "submitted", and nothing is created twice
    batch.refresh_from_db()
    assert (batch.status, batch.attempts) == ("submitted", 2)
    assert batch.payout_batch_id == fake.batch_for(str(batch.sender_batch_id)).payout_batch_id
    assert len(fake.batches) == 1
    settle_everything(fake, client)
    assert_paid_exactly_once(fake, people)


@pytest.mark.django_db
@pytest.mark.parametrize("fault", ["500", "503", "timeout", "drop"])
def test_paypal_fails_before_accepting(fake, client, fault):
    w, people = three_affiliates()
    fake.inject("create_batch", fault)
    api.run_payouts(source="command", client=client)
    batch = PayoutBatch.objects.get()
    assert batch.status == "submitting" and batch.last_error.startswith("PayPalUnavailable")
    assert fake.batches == {}
    # money is held, not lost, and not paid twice by another run meanwhile
    assert api.claim_payout_run(source="command") == (None, [])
    assert {balance(u)["in_payout"] for u in people.values()} == set(EXPECTED.values())
    # the scheduled sync re-sends the same id, which PayPal now accepts
    api.sync_open_batches(client=client)
    assert fake.batch_for(str(batch.sender_batch_id)) is not None
    settle_everything(fake, client)
    assert_paid_exactly_once(fake, people)


@pytest.mark.django_db
def test_retries_inside_the_adapter_end_in_one_batch(fake):
    from .helpers import fake_client

    w, people = three_affiliates()
    fake.inject("create_batch", "500_after_accept")
    with fake_client(fake, retries=2) as retrying:
        summary = api.run_payouts(source="command", client=retrying)
        assert set(summary.batches.values()) == {"submitted"}
        settle_everything(fake, retrying)
    assert_paid_exactly_once(fake, people)


@pytest.mark.django_db
def test_process_killed_between_claim_and_call(fake, client):
    # given a run that committed its claims and batch, then died before calling PayPal
    w, people = three_affiliates()
    run_id, batch_ids = api.claim_payout_run(source="command")
    assert fake.requests == [] and len(batch_ids) == 1
    sender_batch_id = PayoutBatch.objects.get().sender_batch_id
    # when the next run starts
    summary = api.run_payouts(source="command", client=client)
    # then it finishes the same batch (same id) and claims nothing new
    assert summary.resumed == {str(sender_batch_id): "submitted"}
    assert summary.items == 0
    assert list(fake.batches.values())[0].sender_batch_id == str(sender_batch_id)
    settle_everything(fake, client)
    assert_paid_exactly_once(fake, people)


@pytest.mark.django_db
def test_killed_after_the_call_before_recording_the_answer(fake, client):
    # given PayPal got the batch but our process died before storing its answer
    w, people = three_affiliates()
    api.claim_payout_run(source="command")
    batch = PayoutBatch.objects.get()
    client.create_batch(
        sender_batch_id=str(batch.sender_batch_id),
        items=api._paypal_items(batch.id),
        email_subject=api.EMAIL_SUBJECT,
        email_message=api.EMAIL_MESSAGE,
    )
    # when a later sync resolves it
    api.sync_open_batches(client=client)
    batch.refresh_from_db()
    assert batch.status == "submitted" and len(fake.batches) == 1
    settle_everything(fake, client)
    assert_paid_exactly_once(fake, people)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks need PostgreSQL (SQLite serialises)"
)
def test_two_runs_at_once_pay_each_affiliate_once(fake, client):
    w, people = three_affiliates()
    extra = []
    for n in range(12):
        user = affiliate(w, f"more{n}@example.com")
        earn(w, user, 10000 + n)
        extra.append((user, 10000 + n))
    results = run_at_once(*[partial(api.claim_payout_run, source="command")] * 2)
    assert results.errors == [] and len(results) == 2
    items = list(PayoutItem.objects.values_list("affiliate_id", "amount"))
    assert len(items) == len({a for a, _ in items}) == 15
    assert sum(a for _, a in items) == sum(EXPECTED.values()) + sum(a for _, a in extra)
    api.run_payouts(source="command", client=client)
    settle_everything(fake, client)
    paid = fake_paid(fake)
    assert {k: paid[k] for k in EXPECTED} == EXPECTED
    assert sum(paid.values()) == sum(EXPECTED.values()) + sum(a for _, a in extra)
    for user, amount in extra:
        assert balance(user)["paid"] == amount and balance(user)["available"] == 0
