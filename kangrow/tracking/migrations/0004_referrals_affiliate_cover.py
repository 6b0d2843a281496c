"""The affiliate's referrals by time, covering the dashboard's signups per day (campaign,
self_referral), so that read is index-only. Built CONCURRENTLY on PostgreSQL before the old index
is dropped: referrals are written on every attributed signup."""

from django.db import migrations, models

from kangrow.core.db import AddIndexConcurrently, RemoveIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("tracking", "0003_admin_list_indexes"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="referral",
            index=models.Index(
                fields=["affiliate_id", "referred_at"],
                include=("campaign_id", "self_referral", "id"),
                name="referrals_affiliate_cover_idx",
            ),
        ),
        RemoveIndexConcurrently(model_name="referral", name="referrals_affiliate_idx"),
    ]
