"""The set-based claim of a payout run: a constant number of statements per batch, amounts from
the rows actually claimed, and still nobody paid twice when runs race or the money moves
between the eligibility read and the claim."""

from __future__ import annotations

import threading
from functools import partial

import pytest
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from uuid_utils.compat import uuid7

from kangrow.core.db import insert_rows
from kangrow.core.testing import run_at_once
from kangrow.ledger import api as ledger_api
from kangrow.ledger.models import LedgerEntry
from kangrow.payouts import api
from kangrow.payouts.models import PayoutBatch, PayoutItem, PayoutRun

from .helpers import affiliate, balance, earn, refund, world


def _people(w, n, *, prefix="p", rows=2, base=10000):
    """n affiliates, each earning `rows` commissions that add up to base + i."""
    people = []
    for i in range(n):
        user = affiliate(w, f"{prefix}{i}@example.com")
        earn(w, user, base + i - (rows - 1))
        for _ in range(rows - 1):
            earn(w, user, 1)
        people.append((user, base + i))
    return people


def _assert_items_are_their_claimed_rows():
    """Every item's amount is its payout row and the sum of the rows it claimed; no row is in
    two items (a row has one claim at most) and each affiliate has one item per currency."""
    for item in PayoutItem.objects.all():
        claimed = LedgerEntry.objects.filter(
            claim__payout_item_id=item.id, kind__in=["commission", "refund_reversal", "clawback"]
        ).aggregate(total=Sum("amount"))["total"]
        payout = LedgerEntry.objects.get(payout_item_id=item.id, kind="payout")
        assert item.amount == claimed == -payout.amount > 0
        assert payout.affiliate_id == item.affiliate_id and payout.currency == item.currency
    pairs = list(PayoutItem.objects.values_list("affiliate_id", "currency"))
    assert len(pairs) == len(set(pairs))


@pytest.mark.django_db
def test_claim_query_count_does_not_grow_with_affiliates(django_assert_max_num_queries):
    # given a run over 3 affiliates (one asked for a withdrawal), counted
    w = world()
    small_people = _people(w, 3, prefix="small")
    api.request_withdrawal(user_id=small_people[0][0].id)
    with CaptureQueriesContext(connection) as small:
        api.claim_payout_run(source="command")
    assert PayoutItem.objects.count() == 3
    # when 40 more affiliates (one with a withdrawal request, one with a clawback) are claimed
    more = _people(w, 40, prefix="big", rows=3)
    api.request_withdrawal(user_id=more[0][0].id)
    invoice = earn(w, more[1][0], 500)
    refund(w, invoice, 500)
    # then the run takes no more statements than for 3
    with django_assert_max_num_queries(len(small.captured_queries)):
        api.claim_payout_run(source="command")
    assert PayoutItem.objects.count() == 43
    _assert_items_are_their_claimed_rows()


@pytest.mark.django_db
def test_a_batch_is_claimed_in_a_constant_number_of_statements(django_assert_max_num_queries):
    # the claim of one batch of 60 (accounts, ledger claim, read-back, payout rows, batch, items)
    w = world()
    _people(w, 60, rows=2)
    lines = api._eligible_lines(api._minimum())
    run = PayoutRun.objects.create(source="command", minimum=api._minimum())
    limit = 12 if connection.vendor == "postgresql" else 20  # SQLite: 999 parameters a statement
    with django_assert_max_num_queries(limit):
        assert api._claim_batch(run, lines, api._minimum()) is not None
    assert PayoutItem.objects.count() == 60
    _assert_items_are_their_claimed_rows()


@pytest.mark.django_db
def test_money_that_moved_after_the_eligibility_read_is_never_paid_twice(monkeypatch):
    # given the list of who is eligible, read before the money moved
    w = world()
    people = _people(w, 4, rows=2)
    (ann, _), (bob, _), (cy, _), (dee, _) = people
    stale = api._eligible_lines(api._minimum())
    assert len(stale) == 4
    # when, in between, another run claims ann's money, bob gets a clawback that takes him below
    # the minimum, cy earns more and dee is banned
    assert (
        ledger_api.claim_payable_entries(
            affiliate_id=ann.id, currency="USD", payout_item_id=uuid7(), minimum=1
        )
        == 10000
    )
    refund(w, LedgerEntry.objects.filter(affiliate_id=bob.id).first().commission.invoice_id, 2)
    earn(w, cy, 700)
    type(dee).objects.filter(pk=dee.pk).update(banned=True)
    # and a run claims from the stale list
    monkeypatch.setattr(api, "_eligible_lines", lambda minimum: stale)
    run_id, batch_ids = api.claim_payout_run(source="command")
    # then ann is not paid again, bob and dee are not paid, cy is paid what she has now
    items = {i.affiliate_id: i.amount for i in PayoutItem.objects.all()}
    assert items == {cy.id: 10002 + 700}
    assert balance(bob)["available"] == 10001 - 2
    assert balance(dee)["available"] == 10003
    assert balance(ann)["in_payout"] == 10000
    _assert_items_are_their_claimed_rows()


@pytest.mark.django_db
def test_a_run_where_nothing_is_left_to_claim_creates_no_batch(monkeypatch):
    w = world()
    _people(w, 2)
    stale = api._eligible_lines(api._minimum())
    api.claim_payout_run(source="command")
    monkeypatch.setattr(api, "_eligible_lines", lambda minimum: stale)
    run_id, batch_ids = api.claim_payout_run(source="command")
    assert batch_ids == []
    assert PayoutRun.objects.get(pk=run_id).item_count == 0
    assert PayoutBatch.objects.count() == 1 and PayoutItem.objects.count() == 2


@pytest.mark.django_db
def test_withdrawal_requests_of_the_batch_are_cleared_by_the_claim():
    w = world()
    (jane, _), (joe, _) = _people(w, 2)
    api.request_withdrawal(user_id=jane.id)
    before = timezone.now()
    api.claim_payout_run(source="command")
    assert api.get_paypal_email(user_id=jane.id).withdrawal_requested_at is None
    assert api.get_paypal_email(user_id=joe.id).withdrawal_requested_at is None
    assert PayoutItem.objects.filter(created_at__gte=before).count() == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks need PostgreSQL (SQLite serialises)"
)
def test_two_runs_at_once_over_many_batches_split_affiliates_whole(monkeypatch):
    # given 45 affiliates with three rows each (some with a clawback) and batches of 7
    w = world()
    people = _people(w, 45, rows=3)
    expected = {}
    for n, (user, amount) in enumerate(people):
        if n % 5 == 0:
            invoice = earn(w, user, 300)
            refund(w, invoice, 300)  # a clawback row of −300 after +300: net unchanged
        expected[user.id] = amount
    monkeypatch.setattr(api, "MAX_BATCH_ITEMS", 7)
    results = run_at_once(*[partial(api.claim_payout_run, source="command")] * 2)
    errors = results.errors
    # then the two runs together paid each affiliate once, all of their money, to the cent
    assert errors == [] and len(results) == 2
    items = dict(PayoutItem.objects.values_list("affiliate_id", "amount"))
    assert PayoutItem.objects.count() == 45
    assert items == expected
    assert sum(items.values()) == sum(expected.values())
    assert all(n <= 7 for n in _batch_sizes())
    _assert_items_are_their_claimed_rows()
    assert not LedgerEntry.objects.filter(
        kind__in=["commission", "clawback"], claim__isnull=True
    ).exists()


def _batch_sizes():
    return [b.items.count() for b in PayoutBatch.objects.all()]


@pytest.mark.django_db
def test_rows_written_with_copy_read_back_as_bulk_create_would_write_them():
    # given new items, one with text that COPY's text format must escape
    w = world()
    user = affiliate(w, "copy@example.com")
    batch = PayoutBatch.objects.create(
        run=PayoutRun.objects.create(source="command", minimum=api._minimum())
    )
    items = [
        PayoutItem(
            batch=batch,
            affiliate_id=user.id,
            amount=10_000 + i,
            currency="USD",
            receiver=f"r{i}@example.com",
            error_message="tab\there, new\nline, back\\slash, \\N, quote'\"" if i == 1 else "",
        )
        for i in range(3)
    ]
    # when they are inserted at once
    insert_rows(PayoutItem, items)
    # then each reads back with its values, its field defaults and its timestamps
    stored = {i.id: i for i in PayoutItem.objects.filter(batch=batch)}
    assert set(stored) == {i.id for i in items}
    for item in items:
        got = stored[item.id]
        assert (got.amount, got.receiver, got.error_message, got.sender_item_id) == (
            item.amount,
            item.receiver,
            item.error_message,
            item.sender_item_id,
        )
        assert (got.state, got.payout_item_id, got.settled_at) == ("in_flight", None, None)
        assert got.created_at == item.created_at is not None


@pytest.mark.parametrize(
    ("lines", "workers", "sizes"),
    [
        (15_380, 2, [7_690, 7_690]),  # balanced, not 15,000 + 380
        (15_380, 1, [7_690, 7_690]),
        (15_000, 2, [7_500, 7_500]),  # cut in two to be claimed side by side
        (15_000, 1, [15_000]),
        (40_001, 2, [13_334, 13_334, 13_333]),
        (1_999, 2, [1_999]),  # too small to be worth two batches
        (2_000, 2, [1_000, 1_000]),
        (1, 4, [1]),
    ],
)
def test_a_run_is_cut_into_balanced_batches_of_at_most_paypals_limit(lines, workers, sizes):
    batches = api._batches(list(range(lines)), workers)
    assert [len(b) for b in batches] == sizes
    assert [n for batch in batches for n in batch] == list(range(lines))


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="claim workers need PostgreSQL")
def test_batches_are_claimed_side_by_side_each_on_its_own_connection(monkeypatch, settings):
    # given 12 affiliates, two claim workers and batches worth claiming in parallel from 3 lines
    w = world()
    expected = {user.id: amount for user, amount in _people(w, 12, rows=3)}
    settings.KANGROW_PAYOUT_CLAIM_WORKERS = 2
    monkeypatch.setattr(api, "MIN_PARALLEL_BATCH", 3)
    seen = []
    claim_batch = api._claim_batch

    def recording(run, lines, minimum):
        batch_id = claim_batch(run, lines, minimum)
        seen.append((threading.current_thread().name, connection.connection.info.backend_pid))
        return batch_id

    monkeypatch.setattr(api, "_claim_batch", recording)
    # when a run claims them
    run_id, batch_ids = api.claim_payout_run(source="command")
    # then two worker threads claimed a batch each on connections of their own, and everyone
    # was paid once, all of their money
    assert len(batch_ids) == 2 and len(seen) == 2
    assert all(name.startswith("payout-claim") for name, _ in seen)
    assert len({pid for _, pid in seen}) == 2
    assert dict(PayoutItem.objects.values_list("affiliate_id", "amount")) == expected
    run = PayoutRun.objects.get(pk=run_id)
    assert run.item_count == 12 and run.totals == {"USD": sum(expected.values())}
    _assert_items_are_their_claimed_rows()
