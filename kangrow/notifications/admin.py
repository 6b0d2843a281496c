"""Notifications and the email outbox in /admin: read-only, with a "retry" action for emails."""

from django.contrib import admin

from . import api
from .models import EmailPreference, Notification, OutboxEmail


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Notification)
class NotificationAdmin(_ReadOnly):
    list_display = ["created_at", "user", "kind", "title", "read_at"]
    list_filter = ["kind", ("read_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__email", "title", "dedupe_key"]
    date_hierarchy = "created_at"


@admin.register(OutboxEmail)
class OutboxEmailAdmin(_ReadOnly):
    list_display = ["created_at", "to", "subject", "status", "attempts", "next_attempt_at"]
    list_filter = ["status"]
    search_fields = ["to", "subject"]
    actions = ["retry"]

    @admin.action(description="Retry delivery now")
    def retry(self, request, queryset):  # type: ignore[no-untyped-def]
        for row in queryset:
            api.retry_email(outbox_id=row.id)
            api.deliver_email(outbox_id=row.id)
        self.message_user(request, f"Retried {queryset.count()} email(s).")


@admin.register(EmailPreference)
class EmailPreferenceAdmin(_ReadOnly):
    list_display = ["user", "kind", "email_enabled", "updated_at"]
    list_filter = ["kind", "email_enabled"]
    search_fields = ["user__email"]
