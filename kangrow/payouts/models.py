"""PayPal emails, payout runs, batches and items, and PayPal webhook events. Private to the
payouts context: other contexts go through `kangrow.payouts.api`.

The money itself lives in the ledger: a payout item holds (claims) the affiliate's payable ledger
rows; its amount is their sum. Our own ids (`sender_batch_id`, `sender_item_id`) are committed
before PayPal is called, so a retry re-sends the same ids and PayPal never pays twice.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from uuid_utils.compat import uuid7

from kangrow.core.models import TimestampedModel


class PayPalAccount(TimestampedModel):
    """The PayPal email an affiliate is paid at (one per affiliate), confirmed by a link sent to
    that address. Changing the address makes it unconfirmed until the new link is used."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="paypal_account",
        help_text="The affiliate (users.id) paid at this address.",
    )
    email = models.EmailField(
        max_length=254, help_text="The PayPal account's email address (the payout receiver)."
    )
    confirmed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the confirmation link sent to this address was used; empty = unconfirmed "
        "(no payouts go to an unconfirmed address).",
    )
    token_digest = models.BinaryField(
        null=True,
        blank=True,
        editable=False,
        help_text="SHA-256 digest of the outstanding single-use confirmation token; cleared "
        "when used.",
    )
    token_sent_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the outstanding confirmation link was sent (valid for 7 days).",
    )
    withdrawal_requested_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the affiliate asked to be paid; the next payout run honours it and "
        "clears it.",
    )

    class Meta:
        db_table = "paypal_accounts"
        verbose_name = "PayPal account"
        indexes = [
            models.Index(
                fields=["token_digest"],
                name="paypal_accounts_token_idx",
                condition=Q(token_digest__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"PayPal account of {self.user_id}"


class PayoutRun(TimestampedModel):
    """One "pay everyone eligible" run, started from /admin, by the schedule or by
    `manage.py run_payouts`. It claims payable ledger rows into items and submits batches."""

    class Source(models.TextChoices):
        ADMIN = "admin", "admin"
        SCHEDULE = "schedule", "schedule"
        COMMAND = "command", "command"
        DEMO = "demo", "demo"

    source = models.CharField(
        max_length=16, choices=Source.choices, help_text="Who started it: admin, schedule, command."
    )
    started_by_id = models.UUIDField(
        null=True, blank=True, help_text="The staff user (users.id) who started it from /admin."
    )
    minimum = models.BigIntegerField(
        help_text="KANGROW_PAYOUT_MINIMUM at the time of the run, in minor units (per currency)."
    )
    item_count = models.PositiveIntegerField(default=0, help_text="Payout items created.")
    totals = models.JSONField(
        default=dict, blank=True, help_text="Amount claimed per currency, in minor units."
    )
    finished_at = models.DateTimeField(
        null=True, blank=True, help_text="When every batch of the run was handed to PayPal."
    )

    class Meta:
        db_table = "payout_runs"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"payout run {self.id} ({self.source})"


class PayoutBatch(TimestampedModel):
    """One PayPal mass payout (at most 15,000 items). `sender_batch_id` is ours, committed with
    the items before the first call; every retry re-sends it."""

    class Status(models.TextChoices):
        CREATED = "created", "created (not sent yet)"
        SUBMITTING = "submitting", "submitting (PayPal's answer unknown; will re-send same id)"
        SUBMITTED = "submitted", "submitted (PayPal has it)"
        COMPLETED = "completed", "completed (every item settled)"
        REJECTED = "rejected", "rejected by PayPal (nothing paid; money released)"

    run = models.ForeignKey(
        PayoutRun,
        on_delete=models.PROTECT,
        related_name="batches",
        help_text="The run that created the batch.",
    )
    sender_batch_id = models.UUIDField(
        unique=True, default=uuid7, help_text="Our idempotency key for PayPal (UUIDv7)."
    )
    payout_batch_id = models.CharField(  # noqa: DJ001
        max_length=64,
        null=True,
        blank=True,
        unique=True,
        help_text="PayPal's id for the batch, once known.",
    )
    status = models.CharField(
        max_length=16,
        choices=Status.choices,
        default=Status.CREATED,
        help_text="created, submitting, submitted, completed or rejected.",
    )
    batch_status = models.CharField(
        max_length=16,
        blank=True,
        default="",
        help_text="PayPal's batch_status (PENDING, PROCESSING, SUCCESS, DENIED, CANCELED).",
    )
    attempts = models.PositiveIntegerField(default=0, help_text="Submission attempts so far.")
    last_error = models.TextField(
        blank=True, default="", help_text="The last submission or polling error (no secrets)."
    )
    submitted_at = models.DateTimeField(
        null=True, blank=True, help_text="When PayPal confirmed it has the batch."
    )
    last_polled_at = models.DateTimeField(
        null=True, blank=True, help_text="When the status sync last read the batch."
    )
    completed_at = models.DateTimeField(
        null=True, blank=True, help_text="When every item reached a final state."
    )

    class Meta:
        db_table = "payout_batches"
        ordering = ["-created_at"]
        verbose_name_plural = "payout batches"
        indexes = [models.Index(fields=["status"], name="payout_batches_status_idx")]

    def __str__(self) -> str:
        return f"batch {self.sender_batch_id} ({self.status})"


class PayoutItem(TimestampedModel):
    """What one affiliate is paid in one currency in one batch: the sum of the ledger rows it
    claimed. `sender_item_id` is ours (UUIDv7); PayPal reports the item's fate."""

    class State(models.TextChoices):
        IN_FLIGHT = "in_flight", "in flight"
        PAID = "paid", "paid"
        RETURNED = "returned", "returned (money back to payable)"

    batch = models.ForeignKey(
        PayoutBatch,
        on_delete=models.PROTECT,
        related_name="items",
        help_text="The batch it is sent in.",
    )
    sender_item_id = models.UUIDField(
        unique=True, default=uuid7, help_text="Our id for the item at PayPal (UUIDv7)."
    )
    affiliate_id = models.UUIDField(help_text="The affiliate (users.id) paid.")
    amount = models.BigIntegerField(help_text="Amount sent, in minor units (> 0).")
    currency = models.CharField(max_length=3, help_text="ISO 4217 currency.")
    receiver = models.EmailField(
        max_length=254, help_text="The confirmed PayPal email the money was sent to."
    )
    state = models.CharField(
        max_length=16,
        choices=State.choices,
        default=State.IN_FLIGHT,
        help_text="in_flight until PayPal settles it; paid (SUCCESS) or returned (money back).",
    )
    transaction_status = models.CharField(
        max_length=16,
        blank=True,
        default="",
        help_text="PayPal's latest transaction_status (SUCCESS, FAILED, PENDING, UNCLAIMED, "
        "RETURNED, ONHOLD, BLOCKED, REFUNDED, REVERSED, DENIED).",
    )
    payout_item_id = models.CharField(  # noqa: DJ001
        max_length=64,
        null=True,
        blank=True,
        unique=True,
        help_text="PayPal's id for the item, once known.",
    )
    transaction_id = models.CharField(
        max_length=64, blank=True, default="", help_text="PayPal's transaction id, once paid."
    )
    error_name = models.CharField(
        max_length=128, blank=True, default="", help_text="PayPal's error name for the item."
    )
    error_message = models.TextField(
        blank=True, default="", help_text="PayPal's error message, shown to the affiliate."
    )
    unclaimed_since = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When we first saw it UNCLAIMED; after 30 days it is cancelled (RETURNED).",
    )
    settled_at = models.DateTimeField(
        null=True, blank=True, help_text="When it became paid or returned."
    )

    class Meta:
        db_table = "payout_items"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payout_items_amount_gt_0")
        ]
        indexes = [
            models.Index(fields=["affiliate_id", "created_at"], name="payout_items_affiliate_idx"),
            models.Index(fields=["state", "transaction_status"], name="payout_items_state_idx"),
        ]

    def __str__(self) -> str:
        return f"item {self.sender_item_id}: {self.amount} {self.currency} ({self.state})"


class PayPalWebhookEvent(TimestampedModel):
    """A verified PayPal webhook delivery, stored once per event id (replays change nothing)."""

    event_id = models.CharField(
        max_length=128, unique=True, help_text="PayPal's event id (WH-…), the idempotency key."
    )
    event_type = models.CharField(
        max_length=64,
        help_text="e.g. PAYMENT.PAYOUTS-ITEM.SUCCEEDED or PAYMENT.PAYOUTSBATCH.SUCCESS.",
    )
    payload = models.JSONField(help_text="The event as received.")
    outcome = models.CharField(
        max_length=64, blank=True, default="", help_text="What applying it did."
    )
    processed_at = models.DateTimeField(
        null=True, blank=True, help_text="When it was applied; empty when it failed (see outcome)."
    )

    class Meta:
        db_table = "paypal_webhook_events"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"
