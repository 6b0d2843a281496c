"""Covering indexes for the affiliate dashboard's commission reads and a commission's net
(bench/dashboard.py), built CONCURRENTLY on PostgreSQL (non-atomic migration): commissions is
large and written per event."""

from django.db import migrations, models

from kangrow.core.db import AddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("ledger", "0002_payout_claims"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="commission",
            index=models.Index(
                fields=["affiliate_id", "paid_at"],
                include=(
                    "campaign_id",
                    "currency",
                    "status",
                    "amount",
                    "invoice_amount",
                    "referral_id",
                    "id",
                ),
                name="commissions_affiliate_paid_idx",
            ),
        ),
        AddIndexConcurrently(
            model_name="ledgerentry",
            index=models.Index(
                fields=["commission"],
                include=("amount", "currency"),
                name="ledger_entries_commission_net",
            ),
        ),
    ]
