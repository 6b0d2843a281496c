"""Inbound payment events, commissions and the append-only ledger. Private to the ledger context.

Other contexts are referenced by id (app, referral, enrollment, affiliate, campaign); balances
are sums of LedgerEntry rows, never a stored total. The one figure stored beside the rows is a
commission's reversed_amount (what its refund rows took back), for the dashboard's reads.
"""

from django.db import models
from django.db.models import F, Q

from kangrow.core.models import TimestampedModel, UUIDv7Model


class PaymentEvent(TimestampedModel):
    """A money event from the Payments API or Stripe, stored before it is processed.

    Unique on (source, external_id): a redelivered event is recognised and changes nothing.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", "received"
        PROCESSED = "processed", "processed"
        WAITING = "waiting", "waiting for an earlier event"
        FAILED = "failed", "failed"

    source = models.CharField(
        max_length=16, help_text='Where it came from: "api" (POST /api/v1/events) or "stripe".'
    )
    external_id = models.CharField(
        max_length=255,
        help_text="The sender's id: the webhook-id header for the API, the event id for Stripe.",
    )
    app_id = models.UUIDField(help_text="The SaaS app (programs context) the event belongs to.")
    type = models.CharField(
        max_length=64,
        help_text="Internal type: customer.created, subscription.created, invoice.paid, "
        "invoice.refunded or subscription.cancelled.",
    )
    customer_id = models.CharField(
        max_length=255, help_text="The app's (or Stripe's) customer id from the payload."
    )
    invoice_id = models.CharField(
        max_length=255, blank=True, default="", help_text="Invoice id for invoice events."
    )
    payload = models.JSONField(help_text="The validated event data, as received (normalised).")
    occurred_at = models.DateTimeField(help_text="When it happened at the sender.")
    status = models.CharField(
        max_length=16,
        choices=Status.choices,
        default=Status.RECEIVED,
        help_text="received (stored, not processed yet), processed, waiting (depends on an "
        "event that has not arrived; retried) or failed (an error; retried).",
    )
    outcome = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text='What processing did, e.g. "commission_created", "not_referred", '
        '"self_referral", "after_cancellation", "refund_applied".',
    )
    attempts = models.PositiveIntegerField(default=0, help_text="Processing attempts so far.")
    last_error = models.TextField(
        blank=True, default="", help_text="Why the last attempt waited or failed."
    )
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="When the retry task tries again; empty when done."
    )
    processed_at = models.DateTimeField(
        null=True, blank=True, help_text="When it reached status processed."
    )

    class Meta:
        db_table = "payment_events"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"], name="payment_events_source_external_id_uniq"
            )
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="payment_events_due_idx"),
            models.Index(fields=["app_id", "customer_id"], name="payment_events_customer_idx"),
            models.Index(fields=["app_id", "invoice_id"], name="payment_events_invoice_idx"),
            models.Index(fields=["created_at"], name="payment_events_created_idx"),  # /admin
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.external_id} {self.type} ({self.status})"


class Commission(TimestampedModel):
    """What one paid invoice of a referred customer earned its affiliate (one per invoice).

    `amount` is apply_rate(invoice_amount, rate_bps) with the referral's frozen terms; refunds
    and clawbacks are separate negative LedgerEntry rows.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "pending (hold period)"
        PAYABLE = "payable", "payable"
        PAID = "paid", "paid"

    app_id = models.UUIDField(help_text="The SaaS app that billed the invoice.")
    invoice_id = models.CharField(max_length=255, help_text="The app's invoice id.")
    referral_id = models.UUIDField(help_text="The referral (tracking context) that earned it.")
    enrollment_id = models.UUIDField(help_text="The enrollment the referral came through.")
    affiliate_id = models.UUIDField(help_text="The affiliate (users.id) who earns it.")
    campaign_id = models.UUIDField(help_text="The campaign of the enrollment.")
    customer_id = models.CharField(max_length=255, help_text="The referred customer's id.")
    subscription_id = models.CharField(
        max_length=255, blank=True, default="", help_text="The subscription billed, if any."
    )
    payment_ref = models.CharField(
        max_length=255,
        blank=True,
        default="",
        help_text="The payment's id at the processor (e.g. Stripe payment intent), to match "
        "refunds that do not name the invoice.",
    )
    currency = models.CharField(max_length=3, help_text="ISO 4217 currency of the invoice.")
    invoice_amount = models.BigIntegerField(
        help_text="Amount paid, after discounts and before tax, in minor units."
    )
    rate_bps = models.PositiveIntegerField(
        help_text="Commission rate applied, in basis points (3000 = 30 %)."
    )
    amount = models.BigIntegerField(
        help_text="Commission in minor units: apply_rate(invoice_amount, rate_bps)."
    )
    reversed_amount = models.BigIntegerField(
        default=0,
        db_default=0,  # rows inserted by a release that predates the column stay valid
        help_text="What its refund reversals and clawbacks took back, in minor units (0 to "
        "amount): written by the ledger in the same transaction as those rows, so the net "
        "(amount − reversed_amount) is read without them.",
    )
    paid_at = models.DateTimeField(help_text="When the invoice was paid.")
    available_at = models.DateTimeField(
        help_text="End of the hold period (paid_at + hold days): payable from then on."
    )
    status = models.CharField(
        max_length=16,
        choices=Status.choices,
        default=Status.PENDING,
        help_text="pending during the hold period, payable once matured, paid once settled "
        "in a payout.",
    )
    matured_at = models.DateTimeField(
        null=True, blank=True, help_text="When the scheduled job made it payable."
    )
    event = models.ForeignKey(
        PaymentEvent,
        on_delete=models.PROTECT,
        related_name="commissions",
        help_text="The invoice.paid event that created it.",
    )

    class Meta:
        db_table = "commissions"
        ordering = ["-paid_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["app_id", "invoice_id"], name="commissions_app_invoice_uniq"
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="commissions_amount_gte_0"),
            models.CheckConstraint(
                condition=Q(reversed_amount__gte=0, reversed_amount__lte=F("amount")),
                name="commissions_reversed_within_amount",
            ),
        ]
        indexes = [
            models.Index(fields=["affiliate_id", "status"], name="commissions_affiliate_idx"),
            models.Index(fields=["referral_id", "paid_at"], name="commissions_referral_idx"),
            models.Index(fields=["status", "available_at"], name="commissions_maturing_idx"),
            models.Index(fields=["paid_at"], name="commissions_paid_idx"),  # /admin's list
            # The dashboard's per-day, net and paying-customer reads of one affiliate's window,
            # index-only (bench/dashboard.py: 0.4 s each without it for a busy affiliate).
            models.Index(
                fields=["affiliate_id", "paid_at"],
                include=[
                    "campaign_id",
                    "currency",
                    "status",
                    "amount",
                    "reversed_amount",
                    "invoice_amount",
                    "referral_id",
                    "id",
                ],
                name="commissions_affiliate_window",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.invoice_id}: {self.amount} {self.currency} ({self.status})"


class LedgerEntry(UUIDv7Model):
    """One append-only money movement of an affiliate, signed, in minor units.

    commission (+), refund_reversal (−, while pending), clawback (−, once payable or paid),
    adjustment (±); payouts: payout (−, the claimed rows' sum leaving the available balance into
    a payout item), payout_return (+, the item's money back), payout_sent (+, PayPal settled the
    item: counted as paid, not in the payable sum) and payout_sent_reversal (−, a settled item
    later refunded or reversed). See ledger.api.get_balances for the buckets.
    """

    class Kind(models.TextChoices):
        COMMISSION = "commission", "commission"
        REFUND_REVERSAL = "refund_reversal", "refund reversal"
        CLAWBACK = "clawback", "clawback"
        PAYOUT = "payout", "payout"
        PAYOUT_RETURN = "payout_return", "payout returned"
        ADJUSTMENT = "adjustment", "adjustment"
        PAYOUT_SENT = "payout_sent", "payout settled by PayPal"
        PAYOUT_SENT_REVERSAL = "payout_sent_reversal", "settled payout reversed"

    affiliate_id = models.UUIDField(help_text="The affiliate (users.id) whose balance moves.")
    kind = models.CharField(max_length=32, choices=Kind.choices, help_text="What moved the money.")
    amount = models.BigIntegerField(help_text="Signed amount in minor units.")
    currency = models.CharField(max_length=3, help_text="ISO 4217 currency.")
    commission = models.ForeignKey(
        Commission,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        # indexed by ledger_entries_commission_net (commission first): a second index on the
        # same column would only slow every ledger write (payout claims update 400k rows)
        db_index=False,
        related_name="entries",
        help_text="The commission this row belongs to (empty for payouts and adjustments).",
    )
    basis_amount = models.BigIntegerField(
        default=0,
        help_text="The customer money the row was computed from (invoice amount, or the "
        "refunded amount), in minor units.",
    )
    event = models.ForeignKey(
        PaymentEvent,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_index=False,  # ledger_entries_event_uniq (partial, non-null) serves every lookup
        related_name="entries",
        help_text="The payment event that caused it (one row per event at most).",
    )
    reference = models.CharField(
        max_length=255,
        blank=True,
        default="",
        help_text="Free reference for rows not caused by a payment event (e.g. a payout item).",
    )
    note = models.CharField(max_length=255, blank=True, default="", help_text="Why, for people.")
    payout_item_id = models.UUIDField(
        null=True,
        blank=True,
        help_text="For payout, payout_return, payout_sent and payout_sent_reversal rows, the "
        "payout item (payouts context) they record; empty on other rows (the item that claims a "
        "commission, refund_reversal, clawback or adjustment row is its LedgerClaim).",
    )
    created_at = models.DateTimeField(auto_now_add=True, help_text="When it was written.")

    class Meta:
        db_table = "ledger_entries"
        ordering = ["created_at"]
        verbose_name_plural = "ledger entries"
        constraints = [
            models.UniqueConstraint(
                fields=["event"],
                condition=Q(event__isnull=False),
                name="ledger_entries_event_uniq",
            ),
            models.UniqueConstraint(
                fields=["commission"],
                condition=Q(kind="commission"),
                name="ledger_entries_one_commission_row",
            ),
            # One row of each payout kind per payout item: settling twice writes nothing. It is
            # also the index of every lookup by payout_item_id (only payout kinds carry one).
            models.UniqueConstraint(
                fields=["payout_item_id", "kind"],
                condition=Q(
                    kind__in=["payout", "payout_return", "payout_sent", "payout_sent_reversal"]
                ),
                name="ledger_entries_one_payout_row_per_kind",
            ),
        ]
        indexes = [
            models.Index(fields=["affiliate_id", "currency"], name="ledger_entries_affiliate_idx"),
            # A commission's net (its rows' sum) without visiting the heap: the referral table.
            models.Index(
                fields=["commission"],
                include=["amount", "currency"],
                name="ledger_entries_commission_net",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} {self.currency}"


class LedgerClaim(models.Model):
    """A due ledger row claimed for payment by a payout item: at most one claim per row (its
    primary key), written once by the claim and deleted when the item's money comes back.

    Kept apart from the row so a payout run never rewrites the ledger: a claim is a narrow
    insert with two index entries, where setting a column on the row wrote a whole new version
    of it with an entry in each of the ledger's indexes (the payout run claims every due row of
    thousands of affiliates at once). No database foreign key: its check would lock every
    claimed ledger row again at commit, and ledger rows are never deleted (PROTECT everywhere);
    claims are only written by ledger.api from rows it has just read and locked.
    """

    entry = models.OneToOneField(
        LedgerEntry,
        on_delete=models.PROTECT,
        primary_key=True,
        db_constraint=False,
        related_name="claim",
        help_text="The claimed ledger row (commission, refund_reversal, clawback or adjustment).",
    )
    payout_item_id = models.UUIDField(help_text="The payout item (payouts context) claiming it.")

    class Meta:
        db_table = "ledger_claims"
        indexes = [models.Index(fields=["payout_item_id"], name="ledger_claims_payout_item_idx")]

    def __str__(self) -> str:
        return f"{self.entry_id} claimed by {self.payout_item_id}"
