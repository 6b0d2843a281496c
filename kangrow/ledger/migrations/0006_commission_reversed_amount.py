"""Each commission keeps what refunds took back (`reversed_amount`), so the dashboard's net
figures are one index-only read of the affiliate's commissions instead of a join to their ledger
rows (bench/dashboard.py: the slowest of the dashboard's reads for the busiest affiliates).

The column alone, with a database default: instant on PostgreSQL 11+, and the release still
serving while this runs keeps inserting commissions. 0007 fills it, 0008 and 0009 constrain it,
0010 adds it to the covering index; after the rollout, `manage.py reconcile_commission_nets
--repair` fixes the refunds the previous release wrote meanwhile."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0005_drop_duplicate_fk_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="commission",
            name="reversed_amount",
            field=models.BigIntegerField(
                db_default=0,
                default=0,
                help_text="What its refund reversals and clawbacks took back, in minor units (0 "
                "to amount): written by the ledger in the same transaction as those rows, so the "
                "net (amount − reversed_amount) is read without them.",
            ),
        ),
    ]
