"""The data generator at a tiny scale: exact counts, every constraint of the real models, ledger
rows that add up to the balances, and the product's own code working on the generated rows."""

import contextlib
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from uuid import UUID

import psycopg
import pytest
from django.db import connection
from django.db.models import Count, Sum
from django.db.models.functions import Upper

from bench.generate import BENCH_PASSWORD, GENERATED_TABLES, generate, settle_tables, targets
from kangrow.accounts.models import User
from kangrow.core.money import apply_rate
from kangrow.ledger import api as ledger_api
from kangrow.ledger.models import Commission, LedgerClaim, LedgerEntry, PaymentEvent
from kangrow.payouts.models import PayoutItem
from kangrow.programs.models import App, Campaign, Enrollment
from kangrow.tracking import api as tracking_api
from kangrow.tracking.models import Click, Referral

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def generated():
    if connection.vendor != "postgresql":
        pytest.skip("the generator COPYs into PostgreSQL")
    return generate(scale=0.0005, seed=3, progress=False, now=NOW)


def test_targets_scale_everything_but_apps_and_campaigns():
    assert targets(1.0) == {
        "apps": 20, "campaigns": 100, "affiliates": 10_000, "enrollments": 30_000,
        "clicks": 10_000_000, "referrals": 1_000_000, "commissions": 5_000_000,
    }  # fmt: skip
    assert targets(0.001)["clicks"] == 10_000
    assert targets(0.001)["campaigns"] == 100
    assert targets(0.001, {"clicks": 0})["clicks"] == 0


def test_counts_are_exact_and_ids_are_uuid7(generated):
    # given a program generated at scale 0.0005 / then the row counts are exactly the targets
    assert (App.objects.count(), Campaign.objects.count()) == (20, 100)
    assert User.objects.count() == generated["affiliates"] == 5
    assert Enrollment.objects.count() == generated["enrollments"] == 15
    assert Click.objects.count() == generated["clicks"] == 5_000
    assert Referral.objects.count() == generated["referrals"] == 500
    assert Commission.objects.count() == generated["commissions"]
    assert 1_500 <= generated["commissions"] <= 4_000  # about five per referral
    assert PaymentEvent.objects.count() == generated["payment_events"]
    assert LedgerEntry.objects.count() == generated["ledger_entries"]
    # and every id is a UUIDv7 whose time is the row's own time
    for model, when in ((Click, "clicked_at"), (Referral, "referred_at"), (Commission, "paid_at")):
        for row in model.objects.order_by("?")[:50]:
            assert isinstance(row.id, UUID) and row.id.version == 7
            ms = row.id.int >> 80
            assert abs(ms - int(getattr(row, when).timestamp() * 1000)) <= 1
    # and clicks stay inside the two years before now
    assert Click.objects.filter(clicked_at__lt=NOW - timedelta(days=731)).count() == 0
    assert Click.objects.filter(clicked_at__gt=NOW).count() == 0


def test_business_constraints_hold(generated):
    # coupon codes unique also upper-cased; recurring rates at least 30 %
    codes = Enrollment.objects.annotate(u=Upper("coupon_code")).values_list("u", flat=True)
    assert len(set(codes)) == Enrollment.objects.count()
    assert Campaign.objects.filter(recurring=True, commission_bps__lt=3000).count() == 0
    assert Referral.objects.filter(recurring=True, commission_bps__lt=3000).count() == 0
    # one commission per invoice, each rate x amount, each with one invoice.paid event
    for c in Commission.objects.select_related("event")[:300]:
        assert c.amount == apply_rate(c.invoice_amount, c.rate_bps)
        assert c.event.type == "invoice.paid" and c.event.invoice_id == c.invoice_id
    dup = Commission.objects.values("app_id", "invoice_id").annotate(n=Count("id")).filter(n__gt=1)
    assert dup.count() == 0
    # self-referrals earn nothing
    selfish = Referral.objects.filter(self_referral=True).values_list("id", flat=True)
    assert Commission.objects.filter(referral_id__in=list(selfish)).count() == 0


def test_ledger_rows_add_up_to_the_balances(generated):
    commissions = {c.id: c for c in Commission.objects.all()}
    rows = list(LedgerEntry.objects.all())
    claimed_by = dict(LedgerClaim.objects.values_list("entry_id", "payout_item_id"))
    # each commission has exactly one `commission` row of +amount
    commission_rows = [r for r in rows if r.kind == "commission"]
    assert len(commission_rows) == len(commissions)
    assert all(r.amount == commissions[r.commission_id].amount for r in commission_rows)
    # each commission's reversed_amount is what its refund rows took back
    assert ledger_api.reconcile_commission_nets() == []
    assert any(c.reversed_amount for c in commissions.values())
    # expected buckets, computed from the commissions and the payouts context's items
    pending, claimed, free_due = defaultdict(int), defaultdict(int), defaultdict(int)
    for r in rows:
        c = commissions.get(r.commission_id)
        if c is not None and c.status == "pending":
            pending[r.affiliate_id] += r.amount
        elif r.kind in ("commission", "refund_reversal", "clawback", "adjustment"):
            if r.id not in claimed_by:
                free_due[r.affiliate_id] += r.amount
            else:
                claimed[r.affiliate_id] += r.amount
    items = dict(
        PayoutItem.objects.filter(state="paid")
        .values_list("affiliate_id")
        .annotate(t=Sum("amount"))
        .order_by()
    )
    assert PayoutItem.objects.exclude(state="paid").count() == 0
    for affiliate_id in User.objects.values_list("id", flat=True):
        (balance,) = ledger_api.get_balances(affiliate_id=affiliate_id)
        assert balance.currency == "USD"
        assert balance.pending == pending[affiliate_id]
        assert balance.paid == claimed[affiliate_id] == items.get(affiliate_id, 0)
        assert balance.in_payout == 0
        assert balance.available == free_due[affiliate_id]
        assert balance.payable == balance.available + balance.in_payout
    # and every paid commission's row was claimed by an item of its own affiliate
    owner = dict(PayoutItem.objects.values_list("id", "affiliate_id"))
    rows_by_id = {r.id: r for r in rows}
    assert all(owner[item] == rows_by_id[entry].affiliate_id for entry, item in claimed_by.items())
    assert not any(r.payout_item_id for r in rows if r.kind in ledger_api.CLAIMABLE_KINDS)


def test_product_code_works_on_generated_rows(generated):
    # given a generated live link and a generated referred customer on a lifetime campaign
    enrollment = Enrollment.objects.filter(status="active", campaign__status="active").first()
    before = Click.objects.count()
    # when the link is followed / then a click is recorded and the visitor lands with the ref
    location = tracking_api.record_click(token=enrollment.token, ip="203.0.113.9")
    assert location.endswith(f"ref={enrollment.token}")
    assert Click.objects.count() == before + 1
    referral = Referral.objects.filter(
        status="active", self_referral=False, recurring=True, recurring_months__isnull=True
    ).first()
    app = App.objects.get(id=referral.app_id)
    # when a new invoice of that customer arrives twice
    payload = {"app": app.slug, "customer_id": referral.customer_id, "invoice_id": "in_test_1",
               "amount": 4900, "currency": "USD"}  # fmt: skip
    first, created = ledger_api.ingest_event(
        source="api", external_id="msg_test_1", app_id=app.id, type="invoice.paid",
        payload=payload, occurred_at=datetime.now(UTC),
    )  # fmt: skip
    again, created_again = ledger_api.ingest_event(
        source="api", external_id="msg_test_1", app_id=app.id, type="invoice.paid",
        payload=payload, occurred_at=datetime.now(UTC),
    )  # fmt: skip
    # then one commission at the referral's frozen rate, and the repeat changed nothing
    assert (created, created_again, first) == (True, False, again)
    assert ledger_api.get_event_status(event_id=first) == "processed"
    made = Commission.objects.get(app_id=app.id, invoice_id="in_test_1")
    assert made.amount == apply_rate(4900, referral.commission_bps)
    assert PaymentEvent.objects.filter(external_id="msg_test_1").count() == 1
    # and a generated affiliate can log in with the documented password
    user = User.objects.get(email="affiliate000000@bench.kangrow.test")
    assert user.check_password(BENCH_PASSWORD)


def test_a_filled_database_is_refused(generated):
    # given a generated program / when generating again / then it refuses and writes nothing
    clicks = Click.objects.count()
    with pytest.raises(RuntimeError, match="already has apps"):
        generate(scale=0.0005, seed=4, progress=False, now=NOW)
    assert Click.objects.count() == clicks
    assert App.objects.count() == 20


def test_every_generated_table_is_all_visible(generated):
    # index-only scans (the dashboards' reads) skip the heap only on all-visible pages
    with connection.cursor() as cur:
        cur.execute(
            "SELECT relname, relpages, relallvisible FROM pg_class "
            "WHERE relname = ANY(%s) AND relkind = 'r'",
            [list(GENERATED_TABLES)],
        )
        rows = cur.fetchall()
    assert {name for name, _, _ in rows} == set(GENERATED_TABLES)
    assert [(name, pages, visible) for name, pages, visible in rows if visible < pages] == []


@contextlib.contextmanager
def older_snapshot():
    """Another session holding a snapshot from now until the block ends (or `.rollback()`), as
    autovacuum's ANALYZE of a freshly loaded table does for a second or two."""
    if connection.vendor != "postgresql":
        pytest.skip("the generator COPYs into PostgreSQL")
    other = connection.get_new_connection(connection.get_connection_params())
    try:
        other.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        other.execute("SELECT 1").fetchall()  # the snapshot is taken here and held
        yield other
    finally:
        other.close()


def not_all_visible(tables) -> list[str]:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT relname FROM pg_class WHERE relname = ANY(%s) AND relkind = 'r' "
            "AND relallvisible < relpages ORDER BY relname",
            [list(tables)],
        )
        return [row[0] for row in cur.fetchall()]


def test_tables_vacuumed_beside_an_older_snapshot_are_vacuumed_again(monkeypatch):
    # given a snapshot older than everything the generator writes, which ends while the
    # generator waits after its first round of VACUUMs
    with older_snapshot() as other:
        sleeps: list[float] = []
        real_sleep = time.sleep

        def wait(seconds: float) -> None:
            sleeps.append(seconds)
            other.rollback()
            real_sleep(seconds)  # the pause itself stays: autovacuum may hold a snapshot too

        monkeypatch.setattr("bench.generate.time.sleep", wait)
        # when a program is generated
        generate(scale=0.0005, seed=4, progress=False, now=NOW)
    # then the first round could not mark the new pages all-visible; later rounds, within the
    # bound, did (pages that held dead row versions can take a round more)
    assert 1 <= len(sleeps) <= 4
    assert not_all_visible(GENERATED_TABLES) == []


def test_settling_gives_up_after_its_rounds_and_says_which_tables(monkeypatch, capsys):
    # given a program generated while a snapshot older than it is held throughout
    sleeps: list[float] = []
    monkeypatch.setattr("bench.generate.time.sleep", sleeps.append)
    with older_snapshot():
        generate(scale=0.0005, seed=5, progress=False, now=NOW)
        # then the generator gave up after five rounds a second apart, and said so
        assert sleeps == [1.0] * 4
        assert "not all-visible after 5 VACUUMs: " in capsys.readouterr().err
        # and settling again names the tables that are still not all-visible
        assert (
            set(settle_tables(GENERATED_TABLES, rounds=1))
            == set(not_all_visible(GENERATED_TABLES))
            >= {"clicks", "referrals", "commissions"}
        )
