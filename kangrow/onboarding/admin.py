"""/admin for the onboarding context: read-only, the rows are written by affiliates' actions."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from .models import BriefRead, OnboardingProgress


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(OnboardingProgress)
class OnboardingProgressAdmin(_ReadOnly):
    list_display = ("affiliate_id", "first_link_shared_at", "completed_at", "updated_at")
    list_filter = ("completed_at",)
    search_fields = ("affiliate_id",)


@admin.register(BriefRead)
class BriefReadAdmin(_ReadOnly):
    list_display = ("affiliate_id", "app_id", "read_at")
    search_fields = ("affiliate_id", "app_id")
