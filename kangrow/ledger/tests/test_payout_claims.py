"""The set-based payout claim (claim_payable_entries_bulk): each item gets exactly the due,
unclaimed rows of its affiliate and currency that it locked, at or above the minimum; a row is
never in two items, even when claims race; the statements do not grow with the claims."""

from __future__ import annotations

import itertools
import re
import threading
import time

import pytest
from django.db import connection, transaction
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from uuid_utils.compat import uuid7

from kangrow.ledger import api as ledger_api
from kangrow.ledger.models import Commission, LedgerClaim, LedgerEntry
from kangrow.programs import api as programs_api
from kangrow.programs.tests.factories import make_affiliate

from .helpers import apply, build_world

_n = itertools.count(1)


def _world():
    return build_world(email="owner@example.com", commission_bps=10000, hold_days=30)


def _affiliate(w, email):
    user = make_affiliate(email)
    user.enrollment = programs_api.join_campaign(
        affiliate_id=user.id, campaign_slug=w.campaign.slug
    )
    return user


def _earn(w, user, amount, *, currency="USD", at=None):
    n = next(_n)
    extra = {} if at is None else {"at": at}
    _, status = apply(
        w,
        "invoice.paid",
        customer_id=f"cus_c{n}",
        invoice_id=f"in_c{n}",
        amount=amount,
        currency=currency,
        coupon=user.enrollment.coupon_code,
        **extra,
    )
    assert status == "processed"
    return f"in_c{n}"


def _refund(w, invoice, amount):
    c = Commission.objects.get(invoice_id=invoice)
    _, status = apply(
        w,
        "invoice.refunded",
        customer_id=c.customer_id,
        invoice_id=invoice,
        amount=amount,
        currency=c.currency,
    )
    assert status == "processed"


def _claim(user, currency="USD"):
    return ledger_api.PayoutClaim(affiliate_id=user.id, currency=currency, payout_item_id=uuid7())


def _claimed_sum(item_id):
    return (
        LedgerEntry.objects.filter(claim__payout_item_id=item_id).aggregate(total=Sum("amount"))[
            "total"
        ]
        or 0
    )


def _assert_consistent(result):
    for item_id, amount in result.items():
        payout = LedgerEntry.objects.get(payout_item_id=item_id, kind="payout")
        assert amount == _claimed_sum(item_id) == -payout.amount


@pytest.mark.django_db
def test_bulk_claim_fills_items_at_or_above_the_minimum_with_their_rows():
    # given: ann 100.00 in two rows, bob 150.00 less a 60.00 clawback, cy 99.99,
    # dee 120.00 USD and 130.00 EUR plus 50.00 still in its hold period
    w = _world()
    ann, bob, cy, dee = (_affiliate(w, f"{n}@example.com") for n in ("ann", "bob", "cy", "dee"))
    _earn(w, ann, 9000)
    _earn(w, ann, 1000)
    _refund(w, _earn(w, bob, 15000), 6000)
    _earn(w, cy, 9999)
    _earn(w, dee, 12000)
    _earn(w, dee, 13000, currency="EUR")
    _earn(w, dee, 5000, at=timezone.now())
    claims = [_claim(ann), _claim(bob), _claim(cy), _claim(dee), _claim(dee, "EUR")]
    # when
    result = ledger_api.claim_payable_entries_bulk(claims=claims, minimum=10000)
    # then bob (90.00 net) and cy are not claimed; the rest are, to the cent
    by_item = {c.payout_item_id: c for c in claims}
    got = {(by_item[i].affiliate_id, by_item[i].currency): a for i, a in result.items()}
    assert got == {(ann.id, "USD"): 10000, (dee.id, "USD"): 12000, (dee.id, "EUR"): 13000}
    _assert_consistent(result)
    assert _claimed_sum(claims[1].payout_item_id) == _claimed_sum(claims[2].payout_item_id) == 0
    for user, currency, available, in_payout in [
        (ann, "USD", 0, 10000),
        (bob, "USD", 9000, 0),
        (cy, "USD", 9999, 0),
        (dee, "USD", 0, 12000),
        (dee, "EUR", 0, 13000),
    ]:
        b = next(b for b in ledger_api.get_balances(affiliate_id=user.id) if b.currency == currency)
        assert (b.available, b.in_payout) == (available, in_payout)
    assert (
        LedgerEntry.objects.filter(
            affiliate_id=dee.id, commission__status="pending", claim__isnull=False
        ).count()
        == 0
    )
    # and claiming again finds nothing left (a row has one claim at most)
    again = [_claim(ann), _claim(dee), _claim(dee, "EUR")]
    assert ledger_api.claim_payable_entries_bulk(claims=again, minimum=1) == {}


@pytest.mark.django_db
def test_bulk_claim_refuses_two_claims_on_one_balance():
    w = _world()
    ann = _affiliate(w, "ann@example.com")
    _earn(w, ann, 20000)
    with pytest.raises(ValueError):
        ledger_api.claim_payable_entries_bulk(claims=[_claim(ann), _claim(ann)], minimum=1)
    assert not LedgerClaim.objects.exists()
    assert not LedgerEntry.objects.filter(payout_item_id__isnull=False).exists()


@pytest.mark.django_db
def test_bulk_claim_statements_do_not_grow_with_the_claims(django_assert_max_num_queries):
    w = _world()
    users = [_affiliate(w, f"u{n}@example.com") for n in range(31)]
    for user in users:
        _earn(w, user, 10000)
        _earn(w, user, 500)
    with CaptureQueriesContext(connection) as one:
        assert len(ledger_api.claim_payable_entries_bulk(claims=[_claim(users[0])], minimum=1)) == 1
    with django_assert_max_num_queries(len(one.captured_queries)):
        result = ledger_api.claim_payable_entries_bulk(
            claims=[_claim(u) for u in users[1:]], minimum=1
        )
    assert sorted(result.values()) == [10500] * 30
    _assert_consistent(result)


def _in_other_transaction(body) -> threading.Thread:
    """Start a thread that runs `body` in a transaction on a connection of its own."""

    def run():
        try:
            with transaction.atomic():
                body()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


pg_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks need PostgreSQL (SQLite serialises)"
)


@pg_only
@pytest.mark.django_db(transaction=True)
def test_rows_another_claim_holds_are_skipped_not_waited_for_nor_claimed_twice():
    # given ann's rows claimed by another transaction that has not committed yet
    w = _world()
    ann, bob = _affiliate(w, "ann@example.com"), _affiliate(w, "bob@example.com")
    for user in (ann, bob):
        _earn(w, user, 6000)
        _earn(w, user, 6000)
    held, release = threading.Event(), threading.Event()
    other = _claim(ann)
    outcome = {}

    def other_run():
        outcome["other"] = ledger_api.claim_payable_entries_bulk(claims=[other], minimum=1)
        held.set()
        release.wait(timeout=20)

    thread = _in_other_transaction(other_run)
    try:
        assert held.wait(timeout=20)
        # when this run claims ann and bob
        started = time.monotonic()
        mine = [_claim(ann), _claim(bob)]
        result = ledger_api.claim_payable_entries_bulk(claims=mine, minimum=1)
        waited = time.monotonic() - started
    finally:
        release.set()
        thread.join(timeout=30)
    # then it did not wait for the other, took only bob, and ann's rows are the other's only
    assert waited < 5
    assert result == {mine[1].payout_item_id: 12000}
    assert outcome["other"] == {other.payout_item_id: 12000}
    assert _claimed_sum(other.payout_item_id) == 12000
    assert _claimed_sum(mine[0].payout_item_id) == 0
    assert not LedgerEntry.objects.filter(payout_item_id=mine[0].payout_item_id).exists()
    assert not LedgerClaim.objects.filter(payout_item_id=mine[0].payout_item_id).exists()


@pg_only
@pytest.mark.django_db(transaction=True)
def test_racing_bulk_claims_claim_disjoint_rows_and_totals_match_to_the_cent():
    # given 30 affiliates with four rows each, one a clawback for some
    w = _world()
    users = [_affiliate(w, f"r{n}@example.com") for n in range(30)]
    for n, user in enumerate(users):
        for amount in (4000, 3000, 2000 + n):
            invoice = _earn(w, user, amount)
        if n % 3 == 0:
            _refund(w, invoice, 1000)
    earned = LedgerEntry.objects.aggregate(total=Sum("amount"))["total"]
    barrier = threading.Barrier(2)
    claims = [[_claim(u) for u in users], [_claim(u) for u in reversed(users)]]
    results, errors = [None, None], []

    def run(k):
        try:
            barrier.wait()
            with transaction.atomic():
                results[k] = ledger_api.claim_payable_entries_bulk(claims=claims[k], minimum=5000)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    # then each item is exactly the rows it claimed, at or above the minimum; both runs
    # together claimed no row twice, and claimed plus unclaimed is what was earned
    assert errors == []
    both = {**results[0], **results[1]}
    assert len(both) == len(results[0]) + len(results[1])
    _assert_consistent(both)
    assert all(amount >= 5000 for amount in both.values())
    unclaimed = LedgerEntry.objects.filter(
        kind__in=ledger_api.CLAIMABLE_KINDS, claim__isnull=True
    ).aggregate(total=Sum("amount"))["total"]
    assert sum(both.values()) + (unclaimed or 0) == earned
    claimed_rows = LedgerEntry.objects.filter(
        kind__in=ledger_api.CLAIMABLE_KINDS, claim__isnull=False
    )
    assert set(claimed_rows.values_list("claim__payout_item_id", flat=True)) == set(both)
    for user in users:  # never more than an affiliate's whole balance
        items = [c.payout_item_id for k in (0, 1) for c in claims[k] if c.affiliate_id == user.id]
        paid = sum(both.get(i, 0) for i in items)
        total = LedgerEntry.objects.filter(
            affiliate_id=user.id, kind__in=ledger_api.CLAIMABLE_KINDS
        ).aggregate(total=Sum("amount"))["total"]
        assert 0 <= paid <= total


@pytest.mark.django_db
def test_a_claim_writes_claims_and_never_updates_a_ledger_row():
    # given ann's two due rows
    w = _world()
    ann = _affiliate(w, "ann@example.com")
    _earn(w, ann, 6000)
    _earn(w, ann, 6000)
    before = list(LedgerEntry.objects.order_by("id").values())
    # when a payout item claims them
    claim = _claim(ann)
    with CaptureQueriesContext(connection) as queries:
        result = ledger_api.claim_payable_entries_bulk(claims=[claim], minimum=1)
    # then each row has a claim, the rows are as they were, and no statement updated the ledger
    assert result == {claim.payout_item_id: 12000}
    assert set(LedgerClaim.objects.values_list("entry_id", flat=True)) == {r["id"] for r in before}
    rows = LedgerEntry.objects.exclude(kind="payout").order_by("id").values()
    assert list(rows) == before
    updates = re.compile(r'UPDATE\s+"?ledger_entries', re.IGNORECASE)
    assert not [q["sql"] for q in queries.captured_queries if updates.search(q["sql"])]


@pg_only
@pytest.mark.django_db(transaction=True)
def test_an_item_left_below_the_minimum_by_a_claim_committed_meanwhile_gives_its_rows_back():
    # given ann's two rows of 60.00, and another transaction that wrote a claim on one of them
    # (without locking the row) and commits only once this claim is waiting on it
    w = _world()
    ann = _affiliate(w, "ann@example.com")
    _earn(w, ann, 6000)
    _earn(w, ann, 6000)
    first = LedgerEntry.objects.filter(affiliate_id=ann.id).order_by("id").first()
    other_item, written, waited = uuid7(), threading.Event(), []

    def other():
        LedgerClaim.objects.create(entry=first, payout_item_id=other_item)
        written.set()
        waited.append(_someone_waits_on_a_transaction())

    thread = _in_other_transaction(other)
    try:
        assert written.wait(timeout=20)
        # when this claim, which saw both rows free, wants 100.00
        mine = _claim(ann)
        result = ledger_api.claim_payable_entries_bulk(claims=[mine], minimum=10000)
    finally:
        thread.join(timeout=30)
    # then it waited for the other's claim, kept nothing below the minimum, and wrote no payout
    assert waited == [True]
    assert result == {}
    assert not LedgerClaim.objects.filter(payout_item_id=mine.payout_item_id).exists()
    assert not LedgerEntry.objects.filter(payout_item_id=mine.payout_item_id).exists()
    assert dict(LedgerClaim.objects.values_list("entry_id", "payout_item_id")) == {
        first.id: other_item
    }


def _someone_waits_on_a_transaction(timeout: float = 15) -> bool:
    """Whether another backend comes to wait on a transaction's lock within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                "AND wait_event_type = 'Lock' AND wait_event = 'transactionid'"
            )
            if cursor.fetchone()[0]:
                return True
        time.sleep(0.02)
    return False
