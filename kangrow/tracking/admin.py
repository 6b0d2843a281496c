"""/admin for the tracking context: clicks and referrals, read-only (facts, not settings).

Registered with the plain `@admin.register`, which is KanGrow's admin site."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from .api import mask_email
from .models import Click, Referral


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Click)
class ClickAdmin(ReadOnlyAdmin):
    list_display = ("clicked_at", "enrollment_id", "campaign_id", "utm_source", "referrer")
    list_filter = ("clicked_at", "utm_source", "utm_medium")
    search_fields = ("enrollment_id", "campaign_id", "app_id", "ip_hash", "utm_campaign")
    date_hierarchy = "clicked_at"
    show_full_result_count = False


@admin.register(Referral)
class ReferralAdmin(ReadOnlyAdmin):
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
    date_hierarchy = "referred_at"
    exclude = ("customer_email",)
    readonly_fields = ("masked_email",)

    @admin.display(description="customer email")
    def masked_email(self, obj: Referral) -> str:
        return mask_email(obj.customer_email)

    @admin.display(description="rate", ordering="commission_bps")
    def rate(self, obj: Referral) -> str:
        return f"{obj.commission_bps / 100:g}%"
