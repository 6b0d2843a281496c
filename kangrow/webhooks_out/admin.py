"""Outbound webhooks in /admin: endpoints (secret shown once), the delivery log, retries."""

from uuid import UUID

from django import forms
from django.contrib import admin, messages
from django.db import models

from kangrow.core.fields import https_formfield
from kangrow.programs import api as programs_api

from . import api
from .models import Delivery, Endpoint, Message


class EndpointCreateForm(forms.ModelForm):
    app = forms.ChoiceField(help_text="The app whose events this endpoint receives.")
    types = forms.MultipleChoiceField(
        label="Event types",
        required=False,
        choices=[(t, t) for t in api.EVENT_TYPES],
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every type.",
    )

    class Meta:
        formfield_callback = https_formfield
        model = Endpoint
        fields = ["url"]

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.fields["app"].choices = [
            (str(a.id), f"{a.name} ({a.slug})") for a in programs_api.list_apps()
        ]


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "app_id", "is_active", "consecutive_gone", "disabled_reason"]
    list_filter = ["is_active"]
    search_fields = ["url"]
    actions = ["enable", "disable"]
    exclude = ["secret"]
    readonly_fields = ["app_id", "consecutive_gone", "disabled_at", "disabled_reason", "is_active"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_form(self, request, obj=None, **kwargs):  # type: ignore[no-untyped-def]
        if obj is None:
            kwargs["form"] = EndpointCreateForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        if obj is None:
            return ["url", "app", "types"]
        return ["url", "event_types", *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        return self.readonly_fields if obj is not None else []

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        if change:
            super().save_model(request, obj, form, change)
            return
        data = form.cleaned_data
        try:
            ref, secret = api.create_endpoint(
                app_id=UUID(data["app"]), url=data["url"], event_types=data.get("types") or []
            )
        except api.WebhookError as exc:
            messages.error(request, f"{exc.field}: {exc.message}")
            return
        obj.pk = ref.id
        obj.refresh_from_db()
        obj._state.adding = False
        messages.warning(
            request, f"Copy the signing secret now; it will not be shown again: {secret}"
        )

    @admin.action(description="Enable selected endpoints")
    def enable(self, request, queryset):  # type: ignore[no-untyped-def]
        n = sum(api.set_endpoint_active(endpoint_id=e.id, active=True) for e in queryset)
        self.message_user(request, f"Enabled {n} endpoint(s).")

    @admin.action(description="Disable selected endpoints")
    def disable(self, request, queryset):  # type: ignore[no-untyped-def]
        n = sum(api.set_endpoint_active(endpoint_id=e.id, active=False) for e in queryset)
        self.message_user(request, f"Disabled {n} endpoint(s).")


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Message)
class MessageAdmin(_ReadOnly):
    list_display = ["created_at", "type", "msg_id", "app_id"]
    list_filter = ["type"]
    search_fields = ["msg_id"]


@admin.register(Delivery)
class DeliveryAdmin(_ReadOnly):
    list_display = [
        "created_at",
        "message",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
    ]
    list_filter = ["status"]
    search_fields = ["message__msg_id", "endpoint__url"]
    actions = ["retry"]

    @admin.action(description="Retry delivery now")
    def retry(self, request, queryset):  # type: ignore[no-untyped-def]
        n = 0
        for row in queryset:
            if api.retry_delivery(delivery_id=row.id):
                api.deliver(delivery_id=row.id)
                n += 1
        self.message_user(request, f"Retried {n} delivery(ies).")
