"""Time indexes for /admin's newest-first lists and date hierarchies of clicks and referrals
(bench/dashboard.py: seconds per page at full scale without them), built CONCURRENTLY on
PostgreSQL."""

from django.db import migrations, models

from kangrow.core.db import AddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("tracking", "0002_dashboard_indexes"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="click",
            index=models.Index(fields=["clicked_at"], name="clicks_time_idx"),
        ),
        AddIndexConcurrently(
            model_name="referral",
            index=models.Index(fields=["referred_at"], name="referrals_time_idx"),
        ),
    ]
