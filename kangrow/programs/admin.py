"""/admin for the programs context. Saves go through kangrow.programs.api, like provision.

Registered with the plain `@admin.register`, which is KanGrow's admin site (see
kangrow.web.admin.site); contexts do not import the web layer.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from kangrow.core.fields import https_formfield

from . import api
from .models import App, Campaign, CompanyProfile, Enrollment


def _mask(secret: str) -> str:
    return f"…{secret[-4:]}" if secret else "—"


@admin.register(CompanyProfile)
class CompanyProfileAdmin(admin.ModelAdmin):
    list_display = ("name", "updated_at")
    fields = ("name", "mission", "goals")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not CompanyProfile.objects.exists() and super().has_add_permission(request)


class AppForm(forms.ModelForm):
    class Meta:
        formfield_callback = https_formfield
        model = App
        fields = ("slug", *(f for f in api.APP_FIELDS if f != "signing_secret"))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name, value in data.items():
            if isinstance(value, str) and "\x00" in value:
                self.add_error(name, "This value contains a NUL character, which is not allowed.")
        return data


@admin.register(App)
class AppAdmin(admin.ModelAdmin):
    form = AppForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ("name", "slug", "currency", "is_active", "campaign_count", "secret_masked")
    list_filter = ("is_active", "currency")
    search_fields = ("name", "slug", "site_url")
    readonly_fields = ("secret_masked", "stripe_secret_masked", "created_at", "updated_at")
    actions = ("rotate_signing_secret",)
    fieldsets = (
        (None, {"fields": ("name", "slug", "currency", "is_active", "brand_color")}),
        ("Links", {"fields": ("site_url", "landing_url")}),
        (
            "Onboarding brief",
            {
                "fields": (
                    "goals",
                    "ideal_customer",
                    "value_proposition",
                    "pricing",
                    "talking_points",
                    "dos_and_donts",
                )
            },
        ),
        (
            "Secrets",
            {"fields": ("secret_masked", "stripe_endpoint_secret", "stripe_secret_masked")},
        ),
        ("Record", {"fields": ("created_at", "updated_at")}),
    )

    @admin.display(description="signing secret")
    def secret_masked(self, obj: App) -> str:
        return _mask(obj.signing_secret)

    @admin.display(description="Stripe endpoint secret (stored)")
    def stripe_secret_masked(self, obj: App) -> str:
        return _mask(obj.stripe_endpoint_secret)

    @admin.display(description="campaigns")
    def campaign_count(self, obj: App) -> int:
        return obj.campaigns.count()

    def get_form(self, request: HttpRequest, obj: App | None = None, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, **kwargs)
        if obj is not None and "stripe_endpoint_secret" in form.base_fields:
            field = form.base_fields["stripe_endpoint_secret"]
            field.widget = forms.PasswordInput(render_value=False)
            field.required = False
            field.help_text = "Leave empty to keep the stored secret."
        return form

    def save_model(self, request: HttpRequest, obj: App, form: Any, change: bool) -> None:
        fields = {k: v for k, v in form.cleaned_data.items() if k in api.APP_FIELDS and k != "slug"}
        if change and not fields.get("stripe_endpoint_secret"):
            fields.pop("stripe_endpoint_secret", None)
        try:
            app, _created, secret = api.upsert_app(slug=form.cleaned_data["slug"], fields=fields)
        except api.ProgramError as exc:
            messages.error(request, f"{exc.field}: {exc.message}")
            return
        obj.pk, obj.id = app.pk, app.id
        if secret:
            messages.warning(
                request,
                f"Signing secret for {app.slug} (shown once, store it now): {secret}",
            )

    @admin.action(description="Rotate the signing secret (shown once)")
    def rotate_signing_secret(self, request: HttpRequest, queryset: QuerySet[App]) -> None:
        for app in queryset:
            secret = api.generate_signing_secret()
            api.upsert_app(slug=app.slug, fields={"signing_secret": secret})
            messages.warning(request, f"New signing secret for {app.slug} (shown once): {secret}")


class CampaignForm(forms.ModelForm):
    class Meta:
        formfield_callback = https_formfield
        model = Campaign
        fields = ("app", "slug", *api.CAMPAIGN_FIELDS)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("commission_bps") is not None:
            try:
                api.check_campaign_terms(
                    commission_bps=data["commission_bps"],
                    recurring=bool(data.get("recurring")),
                    customer_discount_bps=data.get("customer_discount_bps"),
                )
            except api.ProgramError as exc:
                self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        return data


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = (
        "name",
        "slug",
        "app",
        "rate",
        "recurring",
        "recurring_months",
        "cookie_days",
        "hold_days",
        "status",
        "visibility",
    )
    list_filter = ("status", "visibility", "recurring", "app")
    search_fields = ("name", "slug", "app__name", "app__slug")
    list_select_related = ("app",)
    readonly_fields = ("created_at", "updated_at")

    @admin.display(description="rate", ordering="commission_bps")
    def rate(self, obj: Campaign) -> str:
        return f"{obj.commission_bps / 100:g}%"

    def save_model(self, request: HttpRequest, obj: Campaign, form: Any, change: bool) -> None:
        data = form.cleaned_data
        fields = {k: data[k] for k in api.CAMPAIGN_FIELDS if k in data}
        try:
            campaign, _ = api.upsert_campaign(
                slug=data["slug"], app_slug=data["app"].slug, fields=fields
            )
        except api.ProgramError as exc:
            messages.error(request, f"{exc.field}: {exc.message}")
            return
        obj.pk, obj.id = campaign.pk, campaign.id


class EnrollmentForm(forms.ModelForm):
    class Meta:
        model = Enrollment
        fields = ("commission_bps_override",)


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin):
    form = EnrollmentForm
    list_display = (
        "coupon_code",
        "affiliate",
        "campaign",
        "status",
        "rate",
        "joined_at",
        "left_at",
    )
    list_filter = ("status", "campaign__app", "campaign")
    search_fields = ("coupon_code", "token", "affiliate__email", "campaign__slug", "campaign__name")
    list_select_related = ("affiliate", "campaign")
    readonly_fields = (
        "affiliate",
        "campaign",
        "status",
        "coupon_code",
        "token",
        "joined_at",
        "approved_at",
        "left_at",
        "created_at",
        "updated_at",
    )
    fields = readonly_fields[:4] + ("commission_bps_override",) + readonly_fields[4:]
    actions = ("approve", "reject")

    @admin.display(description="rate")
    def rate(self, obj: Enrollment) -> str:
        bps = obj.commission_bps_override or obj.campaign.commission_bps
        suffix = " (own rate)" if obj.commission_bps_override else ""
        return f"{bps / 100:g}%{suffix}"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # affiliates join through the portal, the API or `manage.py provision`

    def has_delete_permission(self, request: HttpRequest, obj: Enrollment | None = None) -> bool:
        return False  # referrals point at enrollments; reject or leave instead

    def save_model(self, request: HttpRequest, obj: Enrollment, form: Any, change: bool) -> None:
        try:
            api.set_enrollment_rate(
                enrollment_id=obj.id, commission_bps=form.cleaned_data["commission_bps_override"]
            )
        except api.ProgramError as exc:
            messages.error(request, exc.message)

    @admin.action(description="Approve the selected enrollments")
    def approve(self, request: HttpRequest, queryset: QuerySet[Enrollment]) -> None:
        self._apply(request, queryset, api.approve_enrollment, "approved")

    @admin.action(description="Reject the selected enrollments")
    def reject(self, request: HttpRequest, queryset: QuerySet[Enrollment]) -> None:
        self._apply(request, queryset, api.reject_enrollment, "rejected")

    def _apply(
        self, request: HttpRequest, queryset: QuerySet[Enrollment], fn: Any, verb: str
    ) -> None:
        done = 0
        for enrollment_id in queryset.values_list("id", flat=True):
            try:
                fn(enrollment_id=enrollment_id)
                done += 1
            except api.ProgramError as exc:
                messages.error(request, f"{enrollment_id}: {exc.message}")
        if done:
            messages.success(request, f"{done} enrollment(s) {verb}.")


from . import marketing_admin  # noqa: E402, F401  (campaign assets and banner templates)
