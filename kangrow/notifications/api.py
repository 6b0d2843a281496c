"""The notifications context's public API: in-app notifications and emails through an outbox.

`notify` writes the Notification row and its OutboxEmail row in the caller's transaction, so a
rolled-back caller notifies nobody, and a `dedupe_key` makes it exactly-once. Email delivery
happens after commit (a Celery task, inline without Redis) and is retried with backoff; a failing
email never touches the in-app notification.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string, select_template
from django.utils import timezone

from .models import EmailPreference, Notification, OutboxEmail

logger = logging.getLogger(__name__)

MAX_EMAIL_ATTEMPTS = 8
_BACKOFF_BASE = timedelta(minutes=1)
_BACKOFF_CAP = timedelta(hours=6)


@dataclass(frozen=True)
class NotificationView:
    id: UUID
    kind: str
    title: str
    body: str
    data: dict
    read_at: datetime | None
    created_at: datetime


def _view(row: Notification) -> NotificationView:
    return NotificationView(
        id=row.id,
        kind=row.kind,
        title=row.title,
        body=row.body,
        data=row.data,
        read_at=row.read_at,
        created_at=row.created_at,
    )


def email_backoff(attempts: int) -> timedelta:
    """1, 2, 4, 8 … minutes after the n-th failed attempt, capped at 6 hours."""
    return min(_BACKOFF_BASE * (2 ** max(attempts - 1, 0)), _BACKOFF_CAP)


def _render_email(kind: str, context: dict) -> tuple[str, str]:
    slug = kind.replace(".", "_")
    text = render_to_string(
        [f"emails/notifications/{slug}.txt", "emails/notifications/default.txt"], context
    )
    try:
        template = select_template(
            [f"emails/notifications/{slug}.html", "emails/notifications/default.html"]
        )
        html = template.render(context)
    except TemplateDoesNotExist:
        html = ""
    return text, html


@dataclass(frozen=True)
class NewNotification:
    """One notification for `notify_many`; `email=False` keeps it in-app only."""

    user_id: UUID
    kind: str
    title: str
    body: str
    data: dict | None = None
    dedupe_key: str | None = None
    email: bool = True


def notify(
    *,
    user_id: UUID,
    kind: str,
    title: str,
    body: str,
    data: dict | None = None,
    email: bool = True,
    dedupe_key: str | None = None,
) -> None:
    """Create the in-app notification (and its outbox email) unless `dedupe_key` was used.

    The in-app row is always created; the email only when the user's preference for `kind`
    (default on) allows it."""
    notify_many([NewNotification(user_id, kind, title, body, data, dedupe_key, email)])


def notify_many(notes: list[NewNotification]) -> int:
    """`notify` for many at once (a batch of money events): a fixed number of statements, in the
    caller's transaction; a `dedupe_key` already used is skipped. Returns how many are new."""
    if not notes:
        return 0
    users = {
        user.pk: user for user in get_user_model().objects.filter(pk__in={n.user_id for n in notes})
    }
    for note in notes:
        if note.user_id not in users:
            logger.warning("notify: no user %s for %s", note.user_id, note.kind)
    pairs = [
        (
            note,
            Notification(
                user_id=note.user_id,
                kind=note.kind,
                title=note.title[:255],
                body=note.body,
                data=note.data or {},
                dedupe_key=note.dedupe_key,
            ),
        )
        for note in notes
        if note.user_id in users
    ]
    Notification.objects.bulk_create([row for _, row in pairs], ignore_conflicts=True)
    created = set(
        Notification.objects.filter(pk__in=[row.pk for _, row in pairs]).values_list(
            "pk", flat=True
        )
    )
    mailable = [
        (note, row, users[note.user_id])
        for note, row in pairs
        if row.pk in created
        and note.email
        and getattr(users[note.user_id], "email", "")
        and not getattr(users[note.user_id], "deleted_at", None)
    ]
    choices = {}
    if mailable:
        choices = {
            (user_id, kind): enabled
            for user_id, kind, enabled in EmailPreference.objects.filter(
                user_id__in={note.user_id for note, _, _ in mailable},
                kind__in={note.kind for note, _, _ in mailable},
            ).values_list("user_id", "kind", "email_enabled")
        }
    now = timezone.now()
    outbox = []
    for note, row, user in mailable:
        # the user may have chosen in-app only for this kind (see /notifications/preferences)
        if not choices.get((user.pk, note.kind), _DEFAULTS.get(note.kind, True)):
            continue
        context = {
            "title": note.title,
            "body": note.body,
            "data": note.data or {},
            "kind": note.kind,
            "base_url": settings.KANGROW_BASE_URL,
        }
        text, html = _render_email(note.kind, context)
        outbox.append(
            OutboxEmail(
                notification=row,
                to=user.email,
                subject=note.title[:255],
                text=text,
                html=html,
                next_attempt_at=now,
            )
        )
    OutboxEmail.objects.bulk_create(outbox)
    outbox_ids = [str(row.pk) for row in outbox]

    def _enqueue() -> None:
        from . import tasks

        for outbox_id in outbox_ids:
            try:
                tasks.deliver_email.delay(outbox_id)
            except Exception:  # broker down: the retry task will pick it up
                logger.exception("could not enqueue outbox email %s", outbox_id)

    if outbox_ids:
        transaction.on_commit(_enqueue)
    return len(created)


def deliver_email(*, outbox_id: UUID | str) -> str:
    """Send one outbox email now if it is due; returns its new status."""
    with transaction.atomic():
        row = OutboxEmail.objects.select_for_update().filter(pk=outbox_id).first()
        if row is None:
            return "missing"
        if row.status in (OutboxEmail.Status.SENT, OutboxEmail.Status.DEAD):
            return row.status
        message = EmailMultiAlternatives(
            subject=row.subject,
            body=row.text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[row.to],
        )
        if row.html:
            message.attach_alternative(row.html, "text/html")
        row.attempts += 1
        try:
            message.send(fail_silently=False)
        except Exception as exc:
            row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if row.attempts >= MAX_EMAIL_ATTEMPTS:
                row.status = OutboxEmail.Status.DEAD
                row.next_attempt_at = None
            else:
                row.status = OutboxEmail.Status.FAILED
                row.next_attempt_at = timezone.now() + email_backoff(row.attempts)
            logger.warning("email %s failed (attempt %s): %s", row.id, row.attempts, row.last_error)
        else:
            row.status = OutboxEmail.Status.SENT
            row.sent_at = timezone.now()
            row.next_attempt_at = None
            row.last_error = ""
        row.save(update_fields=["attempts", "status", "next_attempt_at", "last_error", "sent_at"])
        return row.status


def deliver_due_emails(*, limit: int = 200) -> int:
    """Send every pending or failed email whose next attempt is due; returns how many tried."""
    due = list(
        OutboxEmail.objects.filter(
            status__in=[OutboxEmail.Status.PENDING, OutboxEmail.Status.FAILED],
            next_attempt_at__lte=timezone.now(),
        )
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )
    for outbox_id in due:
        deliver_email(outbox_id=outbox_id)
    return len(due)


def retry_email(*, outbox_id: UUID | str) -> None:
    """Admin action: make a failed or dead email due again now."""
    OutboxEmail.objects.filter(pk=outbox_id).exclude(status=OutboxEmail.Status.SENT).update(
        status=OutboxEmail.Status.FAILED, next_attempt_at=timezone.now()
    )


def list_notifications(*, user_id: UUID, limit: int = 50) -> list[NotificationView]:
    """The user's notifications, newest first."""
    rows = Notification.objects.filter(user_id=user_id).order_by("-created_at")[:limit]
    return [_view(row) for row in rows]


def count_unread(*, user_id: UUID) -> int:
    return Notification.objects.filter(user_id=user_id, read_at__isnull=True).count()


def mark_read(*, user_id: UUID, notification_id: UUID | None = None) -> int:
    """Mark one (or, without an id, every) unread notification of the user read."""
    qs = Notification.objects.filter(user_id=user_id, read_at__isnull=True)
    if notification_id is not None:
        qs = qs.filter(pk=notification_id)
    return qs.update(read_at=timezone.now())


# --- email preferences -----------------------------------------------------------------------


@dataclass(frozen=True)
class EmailKind:
    kind: str
    label: str
    help: str
    default: bool = True


# The kinds a user can choose to receive by email. A kind not listed here is always emailed.
EMAIL_KINDS: tuple[EmailKind, ...] = (
    EmailKind(
        "referral.cancelled",
        "Cancellation alerts",
        "A customer you referred cancelled: the app, the campaign and the commission lost.",
    ),
    EmailKind(
        "commission.earned",
        "Commission earned",
        "A referred customer paid an invoice (off by default: busy affiliates earn many a day).",
        default=False,
    ),
    EmailKind("payout.sent", "Payout sent", "Your earnings were sent to your PayPal account."),
    EmailKind(
        "payout.failed",
        "Payout failed",
        "A payout could not be delivered; the money is back in your payable balance.",
    ),
)
_DEFAULTS = {k.kind: k.default for k in EMAIL_KINDS}


@dataclass(frozen=True)
class EmailPreferenceView:
    kind: str
    label: str
    help: str
    email_enabled: bool


def get_email_preferences(*, user_id: UUID) -> list[EmailPreferenceView]:
    """Every choosable kind with the user's choice, or its default (one query)."""
    chosen = dict(
        EmailPreference.objects.filter(user_id=user_id).values_list("kind", "email_enabled")
    )
    return [
        EmailPreferenceView(k.kind, k.label, k.help, chosen.get(k.kind, k.default))
        for k in EMAIL_KINDS
    ]


def set_email_preferences(*, user_id: UUID, enabled: dict[str, bool]) -> list[EmailPreferenceView]:
    """Store the user's choice for the given kinds (an upsert on the unique (user, kind));
    unknown kinds raise ValueError and nothing is written."""
    unknown = sorted(set(enabled) - set(_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown notification kind: {unknown[0]!r}")
    now = timezone.now()
    rows = [
        EmailPreference(user_id=user_id, kind=kind, email_enabled=bool(value), updated_at=now)
        for kind, value in enabled.items()
    ]
    if rows:
        EmailPreference.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["user", "kind"],
            update_fields=["email_enabled", "updated_at"],
        )
    return get_email_preferences(user_id=user_id)


def wants_email(*, user_id: UUID, kind: str) -> bool:
    """The user's choice for emails of `kind`, else the kind's default (on)."""
    choice = (
        EmailPreference.objects.filter(user_id=user_id, kind=kind)
        .values_list("email_enabled", flat=True)
        .first()
    )
    return _DEFAULTS.get(kind, True) if choice is None else choice
