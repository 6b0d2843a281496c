"""/admin for marketing material: campaign assets (files affiliates download) and banner
templates (background, logo and text positions banners are rendered from)."""

from __future__ import annotations

from django.contrib import admin

from .marketing_models import AppBranding, BannerTemplate, CampaignAsset


@admin.register(CampaignAsset)
class CampaignAssetAdmin(admin.ModelAdmin):
    list_display = ("title", "campaign", "sort_order", "is_active", "updated_at")
    list_filter = ("is_active", "campaign__app")
    search_fields = ("title", "campaign__name", "campaign__slug")
    list_select_related = ("campaign",)
    fields = ("campaign", "title", "description", "file", "sort_order", "is_active")


@admin.register(BannerTemplate)
class BannerTemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "app", "campaign", "size", "is_active", "updated_at")
    list_filter = ("size", "is_active", "app")
    search_fields = ("name", "app__name", "campaign__name")
    list_select_related = ("app", "campaign")
    fieldsets = (
        (None, {"fields": ("name", "app", "campaign", "size", "is_active")}),
        ("Images", {"fields": ("background", "logo", "logo_x", "logo_y", "logo_height")}),
        (
            "Text boxes (pixels from the top-left corner)",
            {
                "fields": (
                    "text_color",
                    "headline",
                    ("headline_x", "headline_y", "headline_size"),
                    ("code_x", "code_y", "code_size"),
                    ("link_x", "link_y", "link_size"),
                )
            },
        ),
    )


@admin.register(AppBranding)
class AppBrandingAdmin(admin.ModelAdmin):
    list_display = ("app", "logo", "updated_at")
    list_select_related = ("app",)
    fields = ("app", "logo")
