"""Time indexes for /admin's newest-first lists and date hierarchies of commissions and
payment events (bench/dashboard.py: seconds per page at full scale without them), built
CONCURRENTLY on PostgreSQL."""

from django.db import migrations, models

from kangrow.core.db import AddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("ledger", "0003_dashboard_indexes"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="commission",
            index=models.Index(fields=["paid_at"], name="commissions_paid_idx"),
        ),
        AddIndexConcurrently(
            model_name="paymentevent",
            index=models.Index(fields=["created_at"], name="payment_events_created_idx"),
        ),
    ]
