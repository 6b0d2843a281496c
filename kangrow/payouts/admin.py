"""Payouts in /admin: PayPal accounts, runs (with "Run payouts": a preview of who is paid how
much and the total per currency, then a confirmation), batches, items and PayPal events.
Money tables are read-only; the actions call the api, which writes ledger rows."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from kangrow.core.money import Money

from . import api, tasks
from .models import PayoutBatch, PayoutItem, PayoutRun, PayPalAccount, PayPalWebhookEvent


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(PayPalAccount)
class PayPalAccountAdmin(_ReadOnly):
    list_display = ["user", "email", "confirmed_at", "token_sent_at", "withdrawal_requested_at"]
    search_fields = ["email", "user__email"]
    list_filter = [("confirmed_at", admin.EmptyFieldListFilter)]
    exclude = ["token_digest"]


class PayoutBatchInline(admin.TabularInline):
    model = PayoutBatch
    extra = 0
    can_delete = False
    fields = ["sender_batch_id", "payout_batch_id", "status", "batch_status", "attempts"]
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(PayoutRun)
class PayoutRunAdmin(_ReadOnly):
    list_display = ["created_at", "source", "item_count", "totals", "minimum", "finished_at"]
    list_filter = ["source"]
    inlines = [PayoutBatchInline]
    change_list_template = "payouts/admin/run_changelist.html"

    def get_urls(self):  # type: ignore[no-untyped-def]
        run = self.admin_site.admin_view(self.run_payouts_view)
        return [path("run/", run, name="payouts_payoutrun_run"), *super().get_urls()]

    def run_payouts_view(self, request: HttpRequest) -> HttpResponse:
        """GET: preview (who, how much, totals per currency). POST: run it."""
        if not request.user.has_perm("payouts.add_payoutrun") and not request.user.is_superuser:
            return HttpResponse("You may not run payouts.", status=403)
        if request.method == "POST":
            if not tasks.run_from_admin.app.conf.task_always_eager:  # a worker runs it
                tasks.run_from_admin.delay(str(request.user.pk))
                self.message_user(
                    request,
                    "Payout run started in the background: refresh this list to follow it.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:payouts_payoutrun_changelist"))
            summary = api.run_payouts(source="admin", started_by_id=request.user.pk)
            if summary.run_id is None and not summary.resumed:
                self.message_user(request, "Nobody is eligible for a payout now.", messages.INFO)
            else:
                totals = ", ".join(Money(v, k).format() for k, v in summary.totals.items())
                batches = {**summary.resumed, **summary.batches}
                self.message_user(
                    request,
                    f"Payout run: {summary.items} item(s) ({totals or 'nothing new'}); batches: "
                    + ", ".join(f"{k} {v}" for k, v in batches.items()),
                    messages.SUCCESS,
                )
            return HttpResponseRedirect(reverse("admin:payouts_payoutrun_changelist"))
        preview = api.preview_payout_run()
        context = {
            **self.admin_site.each_context(request),
            "title": "Run payouts",
            "opts": self.model._meta,
            "preview": preview,
            "lines": [
                {"line": line, "amount": Money(line.amount, line.currency).format()}
                for line in preview.lines
            ],
            "totals": [Money(v, k).format() for k, v in preview.totals.items()],
            "minimum": preview.minimum,
        }
        return TemplateResponse(request, "payouts/admin/run_preview.html", context)


class PayoutItemInline(admin.TabularInline):
    model = PayoutItem
    extra = 0
    can_delete = False
    fields = ["sender_item_id", "affiliate_id", "amount", "currency", "state", "transaction_status"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(PayoutBatch)
class PayoutBatchAdmin(_ReadOnly):
    list_display = [
        "created_at",
        "sender_batch_id",
        "payout_batch_id",
        "status",
        "batch_status",
        "attempts",
        "last_polled_at",
    ]
    list_filter = ["status", "batch_status"]
    search_fields = ["=sender_batch_id", "payout_batch_id"]
    inlines = [PayoutItemInline]
    actions = ["sync_now"]

    @admin.action(description="Re-send unsent / poll PayPal now")
    def sync_now(self, request, queryset):  # type: ignore[no-untyped-def]
        for batch in queryset:
            if batch.status in (PayoutBatch.Status.CREATED, PayoutBatch.Status.SUBMITTING):
                api.submit_batch(batch_id=batch.id)
            elif batch.status == PayoutBatch.Status.SUBMITTED:
                api.sync_batch(batch_id=batch.id)
        self.message_user(request, f"Synced {queryset.count()} batch(es) with PayPal.")


@admin.register(PayoutItem)
class PayoutItemAdmin(_ReadOnly):
    list_display = [
        "created_at",
        "affiliate_id",
        "amount",
        "currency",
        "receiver",
        "state",
        "transaction_status",
        "error_name",
    ]
    list_filter = ["state", "transaction_status", "currency"]
    search_fields = ["=affiliate_id", "=sender_item_id", "payout_item_id", "receiver"]


@admin.register(PayPalWebhookEvent)
class PayPalWebhookEventAdmin(_ReadOnly):
    list_display = ["created_at", "event_type", "event_id", "outcome", "processed_at"]
    list_filter = ["event_type", "outcome"]
    search_fields = ["event_id"]
