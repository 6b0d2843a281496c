"""Indexes for the affiliate dashboard at scale (bench/dashboard.py, docs/benchmarks.md).

Built CONCURRENTLY on PostgreSQL (non-atomic migration): clicks and referrals are large and
written all the time. The covering clicks index is created before the old one is dropped, so
the dashboard never runs without one."""

from django.db import migrations, models

from kangrow.core.db import AddIndexConcurrently, RemoveIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("tracking", "0001_initial"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="click",
            index=models.Index(
                fields=["enrollment_id", "clicked_at"],
                include=("campaign_id", "id"),
                name="clicks_enrollment_cover_idx",
            ),
        ),
        RemoveIndexConcurrently(
            model_name="click",
            name="clicks_enrollment_time_idx",
        ),
        AddIndexConcurrently(
            model_name="referral",
            index=models.Index(
                condition=models.Q(("cancelled_at__isnull", False)),
                fields=["affiliate_id", "cancelled_at"],
                include=("campaign_id", "self_referral", "id"),
                name="referrals_affiliate_cancel_idx",
            ),
        ),
    ]
