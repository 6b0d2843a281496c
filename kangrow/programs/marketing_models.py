"""Marketing material of the programs context: files staff upload per campaign, and banner
templates (background, logo and text-box positions) that banners are rendered from.

Imported by models.py so Django registers them in the `programs` app; private to the context
like every model (other parts go through `kangrow.programs.api`).
"""

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from kangrow.core.models import TimestampedModel

HEX_COLOR = RegexValidator(r"^#[0-9A-Fa-f]{6}$", "Enter a colour as #RRGGBB.")
BANNER_SIZES = {"300x250": (300, 250), "728x90": (728, 90), "1200x628": (1200, 628)}


class CampaignAsset(TimestampedModel):
    """A marketing file staff upload for one campaign (logo pack, screenshots, a PDF brief…)
    that the campaign's affiliates download from their enrollment page."""

    campaign = models.ForeignKey(
        "programs.Campaign",
        on_delete=models.CASCADE,
        related_name="assets",
        help_text="The campaign whose affiliates see this file.",
    )
    title = models.CharField(max_length=200, help_text="Name shown to affiliates.")
    description = models.TextField(
        blank=True, default="", help_text="What the file is and how to use it."
    )
    file = models.FileField(
        upload_to="campaign-assets/%Y/%m/",
        max_length=300,
        help_text="The uploaded file (path under MEDIA_ROOT); served only to enrolled affiliates.",
    )
    sort_order = models.PositiveIntegerField(
        default=0, help_text="Position in the list (smaller first)."
    )
    is_active = models.BooleanField(default=True, help_text="Hidden from affiliates when false.")

    class Meta:
        db_table = "campaign_assets"
        ordering = ["sort_order", "title"]
        indexes = [models.Index(fields=["campaign", "is_active"], name="campaign_assets_camp_idx")]

    def __str__(self) -> str:
        return self.title


class AppBranding(TimestampedModel):
    """An app's logo for banners rendered without a template (on the app's brand colour)."""

    app = models.OneToOneField(
        "programs.App",
        on_delete=models.CASCADE,
        related_name="branding",
        help_text="The app this logo belongs to (one row per app).",
    )
    logo = models.ImageField(
        upload_to="app-logos/%Y/%m/",
        max_length=300,
        help_text="Logo image (PNG with transparency works best), drawn in the top-right corner.",
    )

    class Meta:
        db_table = "app_brandings"
        verbose_name = "app logo"

    def __str__(self) -> str:
        return f"logo of {self.app}"


class BannerTemplate(TimestampedModel):
    """A banner design for one size: a background image (or the app's brand colour), an
    optional logo, and where the affiliate's coupon code and link are drawn. Applies to one
    campaign, or to every campaign of its app when `campaign` is empty."""

    class Size(models.TextChoices):
        MEDIUM_RECTANGLE = "300x250", "300×250 (medium rectangle)"
        LEADERBOARD = "728x90", "728×90 (leaderboard)"
        SOCIAL = "1200x628", "1200×628 (social card)"

    app = models.ForeignKey(
        "programs.App",
        on_delete=models.CASCADE,
        related_name="banner_templates",
        help_text="The app whose banners use this template.",
    )
    campaign = models.ForeignKey(
        "programs.Campaign",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="banner_templates",
        help_text="Only this campaign's banners; empty means every campaign of the app.",
    )
    size = models.CharField(
        max_length=10, choices=Size.choices, help_text="Banner size in pixels (width x height)."
    )
    name = models.CharField(max_length=200, help_text="Staff-facing name of the design.")
    background = models.ImageField(
        upload_to="banner-templates/%Y/%m/",
        max_length=300,
        blank=True,
        default="",
        help_text="Background image, scaled and cropped to the size; empty uses the brand colour.",
    )
    logo = models.ImageField(
        upload_to="banner-templates/%Y/%m/",
        max_length=300,
        blank=True,
        default="",
        help_text="Logo drawn at (logo_x, logo_y), scaled to logo_height; optional.",
    )
    logo_x = models.PositiveIntegerField(default=16, help_text="Logo left edge, in pixels.")
    logo_y = models.PositiveIntegerField(default=16, help_text="Logo top edge, in pixels.")
    logo_height = models.PositiveIntegerField(default=48, help_text="Logo height, in pixels.")
    headline = models.CharField(
        max_length=120,
        blank=True,
        default="",
        help_text="Text above the code; empty uses the app name and the customer discount.",
    )
    headline_x = models.PositiveIntegerField(default=16, help_text="Headline left, in pixels.")
    headline_y = models.PositiveIntegerField(default=80, help_text="Headline top, in pixels.")
    headline_size = models.PositiveIntegerField(default=22, help_text="Headline font size (px).")
    code_x = models.PositiveIntegerField(default=16, help_text="Coupon code left, in pixels.")
    code_y = models.PositiveIntegerField(default=130, help_text="Coupon code top, in pixels.")
    code_size = models.PositiveIntegerField(default=30, help_text="Coupon code font size (px).")
    link_x = models.PositiveIntegerField(default=16, help_text="Tracking link left, in pixels.")
    link_y = models.PositiveIntegerField(default=200, help_text="Tracking link top, in pixels.")
    link_size = models.PositiveIntegerField(default=14, help_text="Tracking link font size (px).")
    text_color = models.CharField(
        max_length=7,
        default="#FFFFFF",
        validators=[HEX_COLOR],
        help_text="Hex colour (#RRGGBB) of every text.",
    )
    is_active = models.BooleanField(default=True, help_text="Ignored when false.")

    class Meta:
        db_table = "banner_templates"
        ordering = ["app", "size", "-updated_at"]
        indexes = [
            models.Index(fields=["app", "size", "is_active"], name="banner_templates_app_idx")
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(size__in=list(BANNER_SIZES)), name="banner_templates_size_known"
            ),
        ]

    def clean(self) -> None:
        if self.campaign_id and self.app_id and self.campaign.app_id != self.app_id:
            raise ValidationError({"campaign": "This campaign belongs to another app."})

    def __str__(self) -> str:
        return f"{self.name} ({self.size})"
