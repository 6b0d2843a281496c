"""The covering index of the dashboard's commission reads gains reversed_amount: built
CONCURRENTLY on PostgreSQL (non-atomic) before the old one is dropped, so the dashboard never
runs without one."""

from django.db import migrations, models

from kangrow.core.db import AddIndexConcurrently, RemoveIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("ledger", "0009_validate_reversed_amount_check"),
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
