"""/admin for the tracking context: clicks and referrals, read-only (facts, not settings).

Registered with the plain `@admin.register`, which is KanGrow's admin site."""

from __future__ import annotations

from django.contrib import admin

from kangrow.core.admin import BigTableAdmin

from .api import mask_email
from .models import Click, Referral


@admin.register(Click)
class ClickAdmin(BigTableAdmin):
    list_display = ("clicked_at", "enrollment_id", "campaign_id", "utm_source", "referrer")
    # a date filter costs no query; UTM values are searched (a filter would SELECT DISTINCT them)
    list_filter = ("clicked_at",)
    search_fields = (
        "enrollment_id",
        "campaign_id",
        "app_id",
        "ip_hash",
        "utm_source",
        "utm_campaign",
    )


@admin.register(Referral)
class ReferralAdmin(BigTableAdmin):
    list_display = (
        "customer_id",
        "masked_email",
        "attributed_by",
        "rate",
        "status",
        "self_referral",
        "referred_at",
        "cancelled_at",
    )
    list_filter = ("status", "self_referral", "attributed_by", "recurring", "referred_at")
    search_fields = ("customer_id", "enrollment_id", "affiliate_id", "campaign_id", "app_id")
    exclude = ("customer_email",)
    readonly_fields = ("masked_email",)

    @admin.display(description="customer email")
    def masked_email(self, obj: Referral) -> str:
        return mask_email(obj.customer_email)

    @admin.display(description="rate", ordering="commission_bps")
    def rate(self, obj: Referral) -> str:
        return f"{obj.commission_bps / 100:g}%"
