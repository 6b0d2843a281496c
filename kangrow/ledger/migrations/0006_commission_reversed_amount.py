"""Each commission keeps what refunds took back (`reversed_amount`), so the dashboard's net
figures are one index-only read of the affiliate's commissions instead of a join to their ledger
rows (bench/dashboard.py: the slowest of the dashboard's reads for the busiest affiliates).

Filled from the ledger here; from now on the ledger writes it in the same transaction as each
refund reversal or clawback row. The covering index gains the column: built CONCURRENTLY on
PostgreSQL before the old one is dropped, so the dashboard never runs without one."""

from django.db import migrations, models

from kangrow.core.db import AddIndexConcurrently, RemoveIndexConcurrently

BACKFILL = """
UPDATE commissions SET reversed_amount = r.total
FROM (
    SELECT commission_id, -SUM(amount) AS total FROM ledger_entries
    WHERE kind IN ('refund_reversal', 'clawback') AND commission_id IS NOT NULL
    GROUP BY commission_id
) AS r
WHERE commissions.id = r.commission_id
"""


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("ledger", "0005_drop_duplicate_fk_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="commission",
            name="reversed_amount",
            field=models.BigIntegerField(
                default=0,
                help_text="What its refund reversals and clawbacks took back, in minor units (0 "
                "to amount): written by the ledger in the same transaction as those rows, so the "
                "net (amount − reversed_amount) is read without them.",
            ),
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop, elidable=False),
        migrations.AddConstraint(
            model_name="commission",
            constraint=models.CheckConstraint(
                condition=models.Q(reversed_amount__gte=0, reversed_amount__lte=models.F("amount")),
                name="commissions_reversed_within_amount",
            ),
        ),
        AddIndexConcurrently(
            model_name="commission",
            index=models.Index(
                fields=["affiliate_id", "paid_at"],
                include=(
                    "campaign_id",
                    "currency",
                    "status",
                    "amount",
                    "reversed_amount",
                    "invoice_amount",
                    "referral_id",
                    "id",
                ),
                name="commissions_affiliate_window",
            ),
        ),
        RemoveIndexConcurrently(model_name="commission", name="commissions_affiliate_paid_idx"),
    ]
