"""The programs context's tables: company profile, SaaS apps, campaigns and enrollments.

Private to the context: other parts go through `kangrow.programs.api`. The commercial rules the
business depends on (the 30% recurring floor, rates within 0..100%, one coupon code per
enrollment unique across the system, case-insensitively) are database constraints, so no code
path (admin, provision, a raw save) can break them.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper

from kangrow.core.models import TimestampedModel

RECURRING_FLOOR_BPS = 3000
MAX_BPS = 10_000


class CompanyProfile(TimestampedModel):
    """The company behind every app: the mission and goals that onboarding teaches first.

    Exactly one row (enforced by the unique, always-true `singleton` column)."""

    singleton = models.BooleanField(
        default=True,
        unique=True,
        editable=False,
        help_text="Always true; its unique constraint keeps this table to one row.",
    )
    name = models.CharField(max_length=200, help_text="The company's public name.")
    mission = models.TextField(blank=True, default="", help_text="The company's mission, in prose.")
    goals = models.TextField(
        blank=True, default="", help_text="What the company wants affiliates to help it achieve."
    )

    class Meta:
        db_table = "company_profiles"
        constraints = [
            models.CheckConstraint(
                condition=Q(singleton=True), name="company_profiles_singleton_true"
            )
        ]

    def __str__(self) -> str:
        return self.name


class App(TimestampedModel):
    """A SaaS app of the company that affiliates promote, with its onboarding brief and secrets."""

    name = models.CharField(max_length=200, help_text="Display name, e.g. InvoicePro.")
    slug = models.SlugField(
        max_length=60, unique=True, help_text="URL-safe identifier used in events and URLs."
    )
    site_url = models.URLField(
        max_length=500, blank=True, default="", help_text="The app's public website."
    )
    landing_url = models.URLField(
        max_length=500,
        blank=True,
        default="",
        help_text="Where tracking links land unless a campaign overrides it.",
    )
    goals = models.TextField(blank=True, default="", help_text="What the app is for; onboarding.")
    ideal_customer = models.TextField(
        blank=True, default="", help_text="Who buys the app; onboarding."
    )
    value_proposition = models.TextField(
        blank=True, default="", help_text="Why customers choose the app; onboarding."
    )
    pricing = models.TextField(blank=True, default="", help_text="The app's plans and prices.")
    talking_points = models.TextField(
        blank=True, default="", help_text="Suggested arguments for affiliates."
    )
    dos_and_donts = models.TextField(
        blank=True, default="", help_text="Rules for promoting the app (claims, channels)."
    )
    currency = models.CharField(
        max_length=3, default="USD", help_text="ISO 4217 currency the app bills in."
    )
    signing_secret = models.CharField(
        max_length=200,
        help_text="Standard Webhooks secret (whsec_ + base64) that signs POST /api/v1/events.",
    )
    stripe_endpoint_secret = models.CharField(
        max_length=200,
        blank=True,
        default="",
        help_text="Stripe webhook endpoint secret (whsec_…); empty when not billed by Stripe.",
    )
    brand_color = models.CharField(
        max_length=7, blank=True, default="", help_text="Hex colour (#RRGGBB) for banners."
    )
    is_active = models.BooleanField(
        default=True, help_text="Inactive apps take no new clicks or attributions."
    )

    class Meta:
        db_table = "apps"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Campaign(TimestampedModel):
    """A commercial offer for one app: its commission rate, recurrence, cookie window and hold."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        ENDED = "ended", "Ended"

    class Visibility(models.TextChoices):
        OPEN = "open", "Open to every approved affiliate"
        APPROVAL = "approval", "By staff approval"

    app = models.ForeignKey(
        App,
        on_delete=models.PROTECT,
        related_name="campaigns",
        help_text="The app this campaign promotes.",
    )
    slug = models.SlugField(
        max_length=60, unique=True, help_text="Identifier unique across all campaigns."
    )
    name = models.CharField(max_length=200, help_text="Display name.")
    description = models.TextField(blank=True, default="", help_text="Shown to affiliates.")
    landing_url = models.URLField(
        max_length=500,
        blank=True,
        default="",
        help_text="Overrides the app's landing URL for this campaign's links when set.",
    )
    commission_bps = models.IntegerField(
        help_text="Commission rate in basis points (3000 = 30%); recurring campaigns >= 3000."
    )
    recurring = models.BooleanField(
        default=True, help_text="True: every paid invoice earns; false: only the first."
    )
    recurring_months = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="How many months a referral keeps earning; empty means lifetime.",
    )
    cookie_days = models.PositiveIntegerField(
        default=60, help_text="Days after a click during which a signup is attributed."
    )
    customer_discount_bps = models.IntegerField(
        null=True, blank=True, help_text="Discount the coupon gives customers, in basis points."
    )
    hold_days = models.PositiveIntegerField(
        default=30, help_text="Days a commission stays pending (refund window)."
    )
    starts_at = models.DateTimeField(
        null=True, blank=True, help_text="Start of the campaign; empty means already started."
    )
    ends_at = models.DateTimeField(
        null=True, blank=True, help_text="End of the campaign; empty means open-ended."
    )
    status = models.CharField(
        max_length=10,
        choices=Status.choices,
        default=Status.ACTIVE,
        help_text="draft, active, paused or ended; only active campaigns attribute.",
    )
    visibility = models.CharField(
        max_length=10,
        choices=Visibility.choices,
        default=Visibility.OPEN,
        help_text="open: joining is immediate; approval: staff approve each enrollment.",
    )

    class Meta:
        db_table = "campaigns"
        ordering = ["app__name", "name"]
        indexes = [models.Index(fields=["app", "status"], name="campaigns_app_status_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(commission_bps__gte=0) & Q(commission_bps__lte=MAX_BPS),
                name="campaigns_commission_bps_range",
                violation_error_message="The commission must be between 0%% and 100%%.",
            ),
            models.CheckConstraint(
                condition=Q(recurring=False) | Q(commission_bps__gte=RECURRING_FLOOR_BPS),
                name="campaigns_recurring_floor_30pct",
                violation_error_message="Recurring campaigns pay at least 30%%.",
            ),
            models.CheckConstraint(
                condition=Q(customer_discount_bps__isnull=True)
                | (Q(customer_discount_bps__gte=0) & Q(customer_discount_bps__lte=MAX_BPS)),
                name="campaigns_discount_bps_range",
            ),
            models.CheckConstraint(
                condition=Q(recurring_months__isnull=True) | Q(recurring_months__gte=1),
                name="campaigns_recurring_months_positive",
            ),
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True)
                | Q(ends_at__isnull=True)
                | Q(ends_at__gt=models.F("starts_at")),
                name="campaigns_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"


class Enrollment(TimestampedModel):
    """One affiliate in one campaign, with that pair's coupon code and tracking token."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending approval"
        ACTIVE = "active", "Active"
        REJECTED = "rejected", "Rejected"
        LEFT = "left", "Left"

    affiliate = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="enrollments",
        help_text="The affiliate (a user).",
    )
    campaign = models.ForeignKey(
        Campaign,
        on_delete=models.PROTECT,
        related_name="enrollments",
        help_text="The campaign joined.",
    )
    status = models.CharField(
        max_length=10,
        choices=Status.choices,
        default=Status.PENDING,
        help_text="pending, active, rejected or left; only active enrollments attribute.",
    )
    coupon_code = models.CharField(
        max_length=64,
        unique=True,
        help_text="Readable coupon code (e.g. JANE30-INVOICEPRO), stored upper-case, unique.",
    )
    token = models.CharField(
        max_length=32,
        unique=True,
        help_text="Unguessable URL-safe token of the tracking link /r/<token>.",
    )
    commission_bps_override = models.IntegerField(
        null=True,
        blank=True,
        help_text="Staff-set rate in basis points (>= 3000); empty means the campaign's rate.",
    )
    joined_at = models.DateTimeField(help_text="When the affiliate (last) joined.")
    approved_at = models.DateTimeField(
        null=True, blank=True, help_text="When the enrollment became active."
    )
    left_at = models.DateTimeField(null=True, blank=True, help_text="When the affiliate left.")

    class Meta:
        db_table = "enrollments"
        ordering = ["-joined_at"]
        indexes = [models.Index(fields=["campaign", "status"], name="enrollments_campaign_st_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["affiliate", "campaign"], name="enrollments_affiliate_campaign_uniq"
            ),
            models.UniqueConstraint(Upper("coupon_code"), name="enrollments_coupon_upper_uniq"),
            models.CheckConstraint(
                condition=Q(commission_bps_override__isnull=True)
                | (
                    Q(commission_bps_override__gte=RECURRING_FLOOR_BPS)
                    & Q(commission_bps_override__lte=MAX_BPS)
                ),
                name="enrollments_override_floor_30pct",
                violation_error_message="An enrollment rate must be between 30%% and 100%%.",
            ),
        ]

    def __str__(self) -> str:
        return self.coupon_code


# Marketing material lives in its own module; importing it registers the models here.
from .marketing_models import AppBranding, BannerTemplate, CampaignAsset  # noqa: E402, F401
