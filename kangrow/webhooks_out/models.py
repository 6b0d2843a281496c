"""Outbound webhooks: endpoints per app, the messages emitted (an outbox), and deliveries.

Private to the webhooks_out context: other parts go through `kangrow.webhooks_out.api`.
"""

from django.db import models

from kangrow.core.models import UUIDv7Model


class Endpoint(UUIDv7Model):
    """A URL of an app that receives KanGrow's events, signed with its Standard Webhooks secret."""

    app_id = models.UUIDField(
        db_index=True, help_text="The programs app (apps.id) whose events this endpoint receives."
    )
    url = models.URLField(max_length=500, help_text="Where events are POSTed (http or https).")
    secret = models.CharField(
        max_length=100,
        help_text="Standard Webhooks signing secret (whsec_…), shown once when created.",
    )
    event_types = models.JSONField(
        default=list,
        blank=True,
        help_text='Event types sent here, e.g. ["coupon.created"]; empty means every type.',
    )
    is_active = models.BooleanField(
        default=True, help_text="Inactive endpoints receive nothing (disabled by staff or by 410s)."
    )
    consecutive_gone = models.IntegerField(
        default=0,
        help_text="Delivery attempts in a row that answered 410 Gone; reset by any other answer.",
    )
    disabled_at = models.DateTimeField(
        null=True, blank=True, help_text="When the endpoint was disabled, if it is."
    )
    disabled_reason = models.CharField(
        max_length=255, blank=True, default="", help_text="Why the endpoint was disabled."
    )
    created_at = models.DateTimeField(auto_now_add=True, help_text="When the endpoint was added.")
    updated_at = models.DateTimeField(auto_now=True, help_text="When the row last changed.")

    class Meta:
        db_table = "webhook_endpoints"

    def __str__(self) -> str:
        return self.url


class Message(UUIDv7Model):
    """One event emitted by a context (the outbox row), written in the same transaction."""

    app_id = models.UUIDField(db_index=True, help_text="The app (apps.id) the event concerns.")
    type = models.CharField(max_length=64, help_text='Event type, e.g. "referral.created".')
    msg_id = models.CharField(
        max_length=64,
        unique=True,
        help_text="The webhook-id header (msg_ + UUIDv7): receivers deduplicate on it.",
    )
    payload = models.JSONField(help_text="The JSON body sent: {type, timestamp, data}.")
    created_at = models.DateTimeField(auto_now_add=True, help_text="When the event was emitted.")

    class Meta:
        db_table = "webhook_messages"

    def __str__(self) -> str:
        return f"{self.type} {self.msg_id}"


class Delivery(UUIDv7Model):
    """The sending of one message to one endpoint: attempts, backoff, and the last answer."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (gave up)"
        CANCELLED = "cancelled", "Cancelled (endpoint disabled)"

    message = models.ForeignKey(
        Message,
        on_delete=models.CASCADE,
        related_name="deliveries",
        help_text="The message being delivered.",
    )
    endpoint = models.ForeignKey(
        Endpoint,
        on_delete=models.CASCADE,
        related_name="deliveries",
        help_text="Where it is delivered.",
    )
    status = models.CharField(
        max_length=16,
        choices=Status.choices,
        default=Status.PENDING,
        help_text="pending (to send or retry), delivered (2xx), failed (gave up), cancelled.",
    )
    attempts = models.IntegerField(default=0, help_text="How many times sending was tried.")
    next_attempt_at = models.DateTimeField(
        db_index=True, help_text="When the next attempt is due (pending deliveries)."
    )
    last_status_code = models.IntegerField(
        null=True, blank=True, help_text="HTTP status of the last answer; empty on network errors."
    )
    last_error = models.TextField(
        blank=True, default="", help_text="The last network error or a short answer excerpt."
    )
    delivered_at = models.DateTimeField(
        null=True, blank=True, help_text="When the endpoint answered 2xx."
    )
    created_at = models.DateTimeField(auto_now_add=True, help_text="When the delivery was queued.")
    updated_at = models.DateTimeField(auto_now=True, help_text="When the row last changed.")

    class Meta:
        db_table = "webhook_deliveries"
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["message", "endpoint"], name="webhook_deliveries_once_per_endpoint"
            )
        ]

    def __str__(self) -> str:
        return f"{self.message_id} → {self.endpoint_id}"
