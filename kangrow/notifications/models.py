"""In-app notifications and the email outbox. Private to the notifications context."""

from django.conf import settings
from django.db import models

from kangrow.core.models import UUIDv7Model


class Notification(UUIDv7Model):
    """One message shown to a user in the portal (the bell), e.g. "a referral cancelled"."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notifications",
        help_text="The person the notification is for.",
    )
    kind = models.CharField(
        max_length=64,
        help_text='Machine-readable kind, e.g. "referral.cancelled" or "commission.earned".',
    )
    title = models.CharField(max_length=255, help_text="One-line summary shown in lists.")
    body = models.TextField(help_text="Plain-text message shown in the portal and the email.")
    data = models.JSONField(
        default=dict, blank=True, help_text="Structured facts behind the message (ids, amounts)."
    )
    read_at = models.DateTimeField(
        null=True, blank=True, help_text="When the user marked it read; empty while unread."
    )
    dedupe_key = models.CharField(
        max_length=255,
        null=True,
        blank=True,
        unique=True,
        help_text="Unique key that makes a notification exactly-once (e.g. one per referral "
        "cancellation); empty when repeats are allowed.",
    )
    created_at = models.DateTimeField(auto_now_add=True, help_text="When it was created.")

    class Meta:
        db_table = "notifications"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "read_at"], name="notifications_user_read_idx")]

    def __str__(self) -> str:
        return f"{self.kind}: {self.title}"


class OutboxEmail(UUIDv7Model):
    """An email waiting to be sent, sent, or failing with retries (the transactional outbox).

    Written in the same transaction as its notification, delivered after commit; a failed
    delivery is retried with backoff by a scheduled task and never removes the notification.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        SENT = "sent", "sent"
        FAILED = "failed", "failed (will retry)"
        DEAD = "dead", "gave up"

    notification = models.OneToOneField(
        Notification,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="email",
        help_text="The in-app notification this email repeats, if any.",
    )
    to = models.CharField(max_length=255, help_text="Recipient email address.")
    subject = models.CharField(max_length=255, help_text="Subject line.")
    text = models.TextField(help_text="Plain-text body.")
    html = models.TextField(blank=True, default="", help_text="HTML body; empty for text only.")
    status = models.CharField(
        max_length=16,
        choices=Status.choices,
        default=Status.PENDING,
        help_text="pending (not tried yet), sent, failed (will retry at next_attempt_at) or "
        "dead (gave up after the maximum number of attempts).",
    )
    attempts = models.PositiveIntegerField(default=0, help_text="Delivery attempts so far.")
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="When the retry task may try again; empty when done."
    )
    last_error = models.TextField(
        blank=True, default="", help_text="The last delivery error, for operators."
    )
    sent_at = models.DateTimeField(null=True, blank=True, help_text="When it was handed over.")
    created_at = models.DateTimeField(auto_now_add=True, help_text="When it was queued.")

    class Meta:
        db_table = "outbox_emails"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="outbox_status_next_idx")
        ]

    def __str__(self) -> str:
        return f"{self.to}: {self.subject} ({self.status})"


class EmailPreference(UUIDv7Model):
    """Whether a user wants emails of one notification kind. No row means the kind's default
    (every kind defaults to on: cancellation alerts must reach the affiliate unless they opt out).
    The in-app notification is always created; this only decides the email."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="email_preferences",
        help_text="The person whose preference this is.",
    )
    kind = models.CharField(
        max_length=64,
        help_text='The notification kind it applies to, e.g. "referral.cancelled".',
    )
    email_enabled = models.BooleanField(
        help_text="True: notifications of this kind are also emailed; False: in-app only."
    )
    updated_at = models.DateTimeField(auto_now=True, help_text="When the user last changed it.")

    class Meta:
        db_table = "notification_email_preferences"
        ordering = ["kind"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "kind"], name="email_preferences_user_kind_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {'email' if self.email_enabled else 'in-app only'}"
