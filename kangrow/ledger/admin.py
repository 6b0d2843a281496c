"""Payment events, commissions and ledger rows in /admin. Money tables are read-only: the only
action, "retry", reprocesses an event through the api (which writes new rows, never edits)."""

from django.contrib import admin

from kangrow.core.admin import BigTableAdmin

from . import api
from .models import Commission, LedgerClaim, LedgerEntry, PaymentEvent


class EventTypeFilter(admin.SimpleListFilter):
    """The internal event types, listed from the api (not SELECT DISTINCT over every event)."""

    title = "type"
    parameter_name = "type"

    def lookups(self, request, model_admin):  # type: ignore[no-untyped-def]
        return [(t, t) for t in api.EVENT_TYPES]

    def queryset(self, request, queryset):  # type: ignore[no-untyped-def]
        return queryset.filter(type=self.value()) if self.value() else queryset


@admin.register(PaymentEvent)
class PaymentEventAdmin(BigTableAdmin):
    list_display = [
        "created_at",
        "source",
        "type",
        "customer_id",
        "invoice_id",
        "status",
        "outcome",
        "attempts",
        "next_attempt_at",
    ]
    list_filter = ["status", EventTypeFilter, "created_at"]
    search_fields = ["external_id", "customer_id", "invoice_id", "=source", "=outcome"]
    actions = ["retry"]

    @admin.action(description="Retry processing now")
    def retry(self, request, queryset):  # type: ignore[no-untyped-def]
        results = [api.retry_event(event_id=event.id) for event in queryset]
        self.message_user(
            request, f"Retried {len(results)} event(s): {results.count('processed')} processed."
        )


class LedgerEntryInline(admin.TabularInline):
    model = LedgerEntry
    extra = 0
    can_delete = False
    fields = ["created_at", "kind", "amount", "currency", "basis_amount", "note"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Commission)
class CommissionAdmin(BigTableAdmin):
    list_display = [
        "paid_at",
        "invoice_id",
        "customer_id",
        "affiliate_id",
        "amount",
        "currency",
        "rate_bps",
        "status",
        "available_at",
    ]
    list_filter = ["status", "paid_at"]
    search_fields = ["invoice_id", "customer_id", "=affiliate_id", "=referral_id", "=currency"]
    inlines = [LedgerEntryInline]
    actions = ["void"]

    @admin.action(description="Void: reverse what is left (writes a new ledger row)")
    def void(self, request, queryset):  # type: ignore[no-untyped-def]
        reason = f"voided by {request.user.email} in admin"
        reversed_total = [api.void_commission(commission_id=c.id, reason=reason) for c in queryset]
        done = sum(1 for amount in reversed_total if amount)
        self.message_user(request, f"Voided {done} commission(s); the others had nothing left.")


@admin.register(LedgerEntry)
class LedgerEntryAdmin(BigTableAdmin):
    # Newest first by the UUIDv7 key (time-ordered, the primary key's index): the model's
    # created_at has no index of its own, and ordering by it sorted every row for each page.
    ordering = ["-id"]
    list_display = ["created_at", "affiliate_id", "kind", "amount", "currency", "note"]
    list_filter = ["kind", "created_at"]
    search_fields = ["=affiliate_id", "note", "reference", "=currency"]


@admin.register(LedgerClaim)
class LedgerClaimAdmin(BigTableAdmin):
    """Which payout item holds which due ledger row (written and deleted by payouts only)."""

    list_display = ["payout_item_id", "entry"]
    list_select_related = ["entry"]
    search_fields = ["=payout_item_id", "=entry__affiliate_id"]
