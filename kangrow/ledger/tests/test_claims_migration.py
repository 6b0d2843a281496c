"""Migration 0012 moves the claims held in ledger_entries.payout_item_id into ledger_claims, and
back when it is reversed; payout rows keep the item they record."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from uuid_utils.compat import uuid7

BEFORE = [("ledger", "0011_restore_ledger_unique_indexes")]
AFTER = [("ledger", "0012_ledger_claims")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_claims_move_to_their_table_and_back():
    apps = _migrate(BEFORE)
    try:
        entry = apps.get_model("ledger", "LedgerEntry")
        item, now, affiliate = uuid7(), timezone.now(), uuid7()

        def row(kind, amount, payout_item_id):
            return entry.objects.create(
                id=uuid7(), affiliate_id=affiliate, kind=kind, amount=amount, currency="USD",
                payout_item_id=payout_item_id, created_at=now,
            )  # fmt: skip

        claimed = [row("adjustment", 7000, item), row("adjustment", 5000, item)]
        free = row("adjustment", 300, None)
        payout = row("payout", -12000, item)

        apps = _migrate(AFTER)
        entry, claim = (
            apps.get_model("ledger", "LedgerEntry"),
            apps.get_model("ledger", "LedgerClaim"),
        )
        assert dict(claim.objects.values_list("entry_id", "payout_item_id")) == {
            claimed[0].id: item,
            claimed[1].id: item,
        }
        assert not entry.objects.filter(kind="adjustment", payout_item_id__isnull=False).exists()
        assert entry.objects.get(id=payout.id).payout_item_id == item

        apps = _migrate(BEFORE)
        entry = apps.get_model("ledger", "LedgerEntry")
        back = dict(entry.objects.values_list("id", "payout_item_id"))
        assert back == {claimed[0].id: item, claimed[1].id: item, free.id: None, payout.id: item}
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
