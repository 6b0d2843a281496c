"""The onboarding context's tables: what each affiliate has read and done while learning.

Private to the context: other parts go through `kangrow.onboarding.api`. Affiliates and apps
are referred to by id (they belong to the accounts and programs contexts). Idempotency comes
from the unique constraints: reading a brief twice or sharing a link twice writes one row.
"""

from django.db import models

from kangrow.core.models import TimestampedModel, UUIDv7Model


class OnboardingProgress(TimestampedModel):
    """One row per affiliate: the onboarding facts that are not derived from other contexts
    (the first shared link) and the moment the checklist was first complete."""

    affiliate_id = models.UUIDField(unique=True, help_text="The affiliate (accounts user id).")
    first_link_shared_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="First copy/share of a link or coupon, or first click recorded on a link.",
    )
    completed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When every checklist item was first done; the progress bar then disappears.",
    )

    class Meta:
        db_table = "onboarding_progress"
        verbose_name = "onboarding progress"
        verbose_name_plural = "onboarding progress"

    def __str__(self) -> str:
        return f"onboarding of {self.affiliate_id}"


class BriefRead(UUIDv7Model):
    """An affiliate marked an app's brief as read ("I've read this")."""

    affiliate_id = models.UUIDField(help_text="The affiliate (accounts user id).")
    app_id = models.UUIDField(help_text="The app (programs) whose brief was read.")
    read_at = models.DateTimeField(help_text="When the affiliate marked the brief read.")

    class Meta:
        db_table = "onboarding_brief_reads"
        constraints = [
            models.UniqueConstraint(
                fields=["affiliate_id", "app_id"], name="onboarding_brief_reads_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.affiliate_id} read {self.app_id}"
