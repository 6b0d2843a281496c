"""Migration 0011 puts back a missing one-row-per-event or one-commission-row index, and stops
with the query to run when the ledger already breaks it."""

import importlib

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, transaction

from kangrow.ledger.models import LedgerEntry

from .helpers import paid

migration = importlib.import_module("kangrow.ledger.migrations.0011_restore_ledger_unique_indexes")

NAME = "ledger_entries_one_commission_row"

# Only PostgreSQL lost them (SQLite rebuilt the table from the state), and SQLite's schema
# editor cannot run inside the test's transaction.
pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the indexes went missing on PostgreSQL only"
)


def _indexes() -> set[str]:
    with connection.cursor() as cursor:
        return set(connection.introspection.get_constraints(cursor, "ledger_entries"))


def _drop(name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
    assert name not in _indexes()


def _second_commission_row() -> LedgerEntry:
    row = LedgerEntry.objects.get(kind=LedgerEntry.Kind.COMMISSION)
    return LedgerEntry(
        affiliate_id=row.affiliate_id,
        kind=row.kind,
        amount=row.amount,
        currency=row.currency,
        commission_id=row.commission_id,
    )


def _restore() -> None:
    with connection.cursor() as cursor:  # the rows written above: their deferred FK checks now
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with connection.schema_editor(atomic=False) as editor:
        migration.restore(apps, editor)


def test_a_missing_index_is_created_and_holds_again(world):
    assert paid(world, "in_1", 10_000, coupon=world.enrollment.coupon_code) == "processed"
    _drop(NAME)
    _restore()
    assert NAME in _indexes()
    with pytest.raises(IntegrityError), transaction.atomic():
        _second_commission_row().save(force_insert=True)


def test_rows_that_break_it_stop_the_migration_with_the_query(world):
    assert paid(world, "in_1", 10_000, coupon=world.enrollment.coupon_code) == "processed"
    _drop(NAME)
    _second_commission_row().save(force_insert=True)
    with pytest.raises(RuntimeError, match="List them with: SELECT commission_id"):
        _restore()
    assert NAME not in _indexes()


def test_present_indexes_are_left_alone(world):
    before = _indexes()
    _restore()
    assert _indexes() == before
