"""Claims move from ledger_entries.payout_item_id to a narrow table of their own.

A payout run used to set payout_item_id on every due row it claimed, which writes a new version
of each wide ledger row with an entry in each of its indexes. A claim is now a LedgerClaim row
(entry, payout_item_id), and ledger rows are no longer updated once written. The claims held
today move across in one pass: an INSERT of the claimed rows' pairs, then an UPDATE that clears
the column on those rows (it stays on payout rows, which record their item). On a ledger with
years of paid payouts that UPDATE rewrites every paid row once; run it in a quiet hour.
"""

from django.db import migrations, models

CLAIMABLE = "('commission', 'refund_reversal', 'clawback', 'adjustment')"

MOVE = [
    f"""INSERT INTO ledger_claims (entry_id, payout_item_id)
    SELECT id, payout_item_id FROM ledger_entries
    WHERE kind IN {CLAIMABLE} AND payout_item_id IS NOT NULL""",
    f"""UPDATE ledger_entries SET payout_item_id = NULL
    WHERE kind IN {CLAIMABLE} AND payout_item_id IS NOT NULL""",
]
MOVE_BACK = [
    """UPDATE ledger_entries SET payout_item_id = (
        SELECT c.payout_item_id FROM ledger_claims c WHERE c.entry_id = ledger_entries.id)
    WHERE id IN (SELECT entry_id FROM ledger_claims)""",
    "DELETE FROM ledger_claims",
]


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0011_restore_ledger_unique_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="LedgerClaim",
            fields=[
                (
                    "entry",
                    models.OneToOneField(
                        db_constraint=False,
                        help_text="The claimed ledger row (commission, refund_reversal, "
                        "clawback or adjustment).",
                        on_delete=models.deletion.PROTECT,
                        primary_key=True,
                        related_name="claim",
                        serialize=False,
                        to="ledger.ledgerentry",
                    ),
                ),
                (
                    "payout_item_id",
                    models.UUIDField(help_text="The payout item (payouts context) claiming it."),
                ),
            ],
            options={"db_table": "ledger_claims"},
        ),
        migrations.RunSQL(MOVE, MOVE_BACK, elidable=False),
        migrations.AddIndex(
            model_name="ledgerclaim",
            index=models.Index(fields=["payout_item_id"], name="ledger_claims_payout_item_idx"),
        ),
        migrations.RemoveIndex(
            model_name="ledgerentry",
            name="ledger_entries_payout_item_idx",
        ),
        migrations.AlterField(
            model_name="ledgerentry",
            name="payout_item_id",
            field=models.UUIDField(
                blank=True,
                help_text="For payout, payout_return, payout_sent and payout_sent_reversal rows, "
                "the payout item (payouts context) they record; empty on other rows (the item "
                "that claims a commission, refund_reversal, clawback or adjustment row is its "
                "LedgerClaim).",
                null=True,
            ),
        ),
    ]
