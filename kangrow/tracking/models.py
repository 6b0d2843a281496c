"""The tracking context's tables: clicks on tracking links, and referred customers.

Private to the context: other parts go through `kangrow.tracking.api`. Enrollments, campaigns
and apps belong to the programs context, so they are referenced by id, not foreign key.
"""

from django.db import models
from django.db.models import Q

from kangrow.core.models import TimestampedModel, UUIDv7Model


class Click(UUIDv7Model):
    """One visit through a tracking link /r/<token>. Written once (one INSERT), never updated."""

    enrollment_id = models.UUIDField(help_text="The enrollment whose link was clicked (programs).")
    campaign_id = models.UUIDField(help_text="The enrollment's campaign (programs), denormalised.")
    app_id = models.UUIDField(help_text="The campaign's app (programs), denormalised.")
    clicked_at = models.DateTimeField(help_text="When the click happened.")
    ip_hash = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="HMAC-SHA256 of the visitor's IP with a secret salt (hex); never the IP.",
    )
    user_agent = models.CharField(
        max_length=512, blank=True, default="", help_text="Browser user agent, truncated."
    )
    referrer = models.CharField(
        max_length=1000, blank=True, default="", help_text="HTTP Referer, truncated."
    )
    landing_url = models.CharField(
        max_length=2000, blank=True, default="", help_text="The URL the visitor was sent to."
    )
    utm_source = models.CharField(max_length=200, blank=True, default="", help_text="utm_source.")
    utm_medium = models.CharField(max_length=200, blank=True, default="", help_text="utm_medium.")
    utm_campaign = models.CharField(
        max_length=200, blank=True, default="", help_text="utm_campaign."
    )
    utm_term = models.CharField(max_length=200, blank=True, default="", help_text="utm_term.")
    utm_content = models.CharField(max_length=200, blank=True, default="", help_text="utm_content.")

    class Meta:
        db_table = "clicks"
        ordering = ["-clicked_at"]
        indexes = [
            # Covering (campaign_id included): the dashboard's clicks-per-day is index-only.
            models.Index(
                fields=["enrollment_id", "clicked_at"],
                include=["campaign_id", "id"],
                name="clicks_enrollment_cover_idx",
            ),
            models.Index(fields=["campaign_id", "clicked_at"], name="clicks_campaign_time_idx"),
            # /admin's newest-first list and date hierarchy (a 10M-row sort without it).
            models.Index(fields=["clicked_at"], name="clicks_time_idx"),
        ]

    def __str__(self) -> str:
        return f"click {self.id} at {self.clicked_at:%Y-%m-%d %H:%M}"


class Referral(TimestampedModel):
    """A referred customer of one app, attributed once to one enrollment, with frozen terms."""

    class AttributedBy(models.TextChoices):
        COUPON = "coupon", "Coupon code"
        REF = "ref", "Referral link"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        CANCELLED = "cancelled", "Cancelled"

    app_id = models.UUIDField(help_text="The app (programs) the customer signed up to.")
    customer_id = models.CharField(
        max_length=255, help_text="The customer's id in that app (e.g. cus_123)."
    )
    customer_email = models.CharField(
        max_length=320,
        blank=True,
        default="",
        help_text="Customer email as reported, kept for self-referral checks; masked when shown.",
    )
    enrollment_id = models.UUIDField(help_text="The enrollment (programs) credited.")
    affiliate_id = models.UUIDField(help_text="The credited affiliate (a user id).")
    campaign_id = models.UUIDField(help_text="The enrollment's campaign (programs).")
    attributed_by = models.CharField(
        max_length=10,
        choices=AttributedBy.choices,
        help_text="coupon (strongest) or ref (tracking link within the cookie window).",
    )
    commission_bps = models.IntegerField(
        help_text="Frozen rate in basis points, from the terms at the first conversion."
    )
    recurring = models.BooleanField(
        help_text="Frozen: every paid invoice earns, or only the first."
    )
    recurring_months = models.PositiveIntegerField(
        null=True, blank=True, help_text="Frozen: months that earn; empty means lifetime."
    )
    hold_days = models.PositiveIntegerField(help_text="Frozen: days a commission stays pending.")
    cookie_days = models.PositiveIntegerField(help_text="Frozen: the cookie window that applied.")
    status = models.CharField(
        max_length=10,
        choices=Status.choices,
        default=Status.ACTIVE,
        help_text="active, or cancelled (later invoices earn nothing).",
    )
    self_referral = models.BooleanField(
        default=False,
        help_text="The customer is the affiliate (normalised email match): earns nothing, flagged.",
    )
    referred_at = models.DateTimeField(help_text="When the customer was attributed.")
    cancelled_at = models.DateTimeField(
        null=True, blank=True, help_text="When the customer cancelled."
    )

    class Meta:
        db_table = "referrals"
        ordering = ["-referred_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["app_id", "customer_id"], name="referrals_app_customer_uniq"
            ),
            models.CheckConstraint(
                condition=Q(commission_bps__gte=0) & Q(commission_bps__lte=10_000),
                name="referrals_commission_bps_range",
            ),
            models.CheckConstraint(
                condition=Q(recurring=False) | Q(commission_bps__gte=3000),
                name="referrals_recurring_floor_30pct",
            ),
        ]
        indexes = [
            # The dashboard's signups per day, index-only (without campaign and self_referral
            # the planner preferred scanning every affiliate's referrals of the period by time:
            # 11 ms for the busiest affiliate at full scale); also the referral table's order.
            models.Index(
                fields=["affiliate_id", "referred_at"],
                include=["campaign_id", "self_referral", "id"],
                name="referrals_affiliate_cover_idx",
            ),
            models.Index(fields=["enrollment_id"], name="referrals_enrollment_idx"),
            models.Index(fields=["referred_at"], name="referrals_time_idx"),  # /admin's list
            # The dashboard's cancellations per day: only cancelled referrals, index-only.
            models.Index(
                fields=["affiliate_id", "cancelled_at"],
                include=["campaign_id", "self_referral", "id"],
                condition=Q(cancelled_at__isnull=False),
                name="referrals_affiliate_cancel_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} ({self.status})"
