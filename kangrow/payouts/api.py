"""The payouts context's public API: PayPal emails, balances and eligibility, payout runs,
submission to PayPal with exactly-once payment, and settlement from webhooks and polling.

Money never lives here: a payout item claims the affiliate's payable ledger rows through
`kangrow.ledger.api` (rows locked with SKIP LOCKED in a fixed order, claimed by an UPDATE that only
touches unclaimed rows), and every settlement is a ledger row, so balances stay sums.

Exactly-once: a run commits each PayoutBatch (our `sender_batch_id`) with its PayoutItems (our
`sender_item_id`s) and the ledger claims in one transaction BEFORE PayPal is called. Any unknown
outcome (timeout, 5xx, a process killed before or during the call) leaves the batch "created" or
"submitting", and the next attempt re-sends the SAME `sender_batch_id`; PayPal refuses a
duplicate, which proves it has the batch (see kangrow.integrations.paypal.client).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from kangrow.core.text import reject_nul

from .models import PayPalAccount

logger = logging.getLogger(__name__)

CONFIRM_VALIDITY = timedelta(days=7)


class PayoutError(Exception):
    """A payout operation was refused; `code` is stable, the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --------------------------------------------------------------------------- PayPal email


@dataclass(frozen=True, slots=True)
class PayPalEmailView:
    email: str
    confirmed: bool
    confirmed_at: datetime | None = None
    confirmation_sent_at: datetime | None = None
    withdrawal_requested_at: datetime | None = None


def _digest(raw: str) -> bytes:
    return hashlib.sha256(raw.encode()).digest()


def _url(path: str) -> str:
    return settings.KANGROW_BASE_URL.rstrip("/") + path


def get_paypal_email(*, user_id: UUID) -> PayPalEmailView | None:
    """The affiliate's PayPal email and whether it is confirmed (None when none was set)."""
    row = PayPalAccount.objects.filter(user_id=user_id).first()
    if row is None:
        return None
    return PayPalEmailView(
        email=row.email,
        confirmed=row.confirmed_at is not None,
        confirmed_at=row.confirmed_at,
        confirmation_sent_at=row.token_sent_at if row.token_digest else None,
        withdrawal_requested_at=row.withdrawal_requested_at,
    )


def _clean_paypal_email(value: str) -> str:
    value = (value or "").strip()
    try:
        reject_nul(value)
    except ValidationError as exc:
        raise ValidationError({"email": exc.messages})
    if len(value) > 254:
        raise ValidationError({"email": "Enter a valid email address (at most 254 characters)."})
    try:
        validate_email(value)
    except ValidationError:
        raise ValidationError({"email": "Enter a valid email address."})
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def _send_on_commit(*, to: str, template: str, subject: str, context: dict[str, Any]) -> None:
    ctx = {"base_url": settings.KANGROW_BASE_URL.rstrip("/"), "subject": subject, **context}
    text = render_to_string(f"payouts/emails/{template}.txt", ctx)
    html = render_to_string(f"payouts/emails/{template}.html", ctx)
    message = EmailMultiAlternatives(
        subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[to]
    )
    message.attach_alternative(html, "text/html")

    def _send() -> None:
        try:
            message.send()
        except Exception:  # a mail outage must not undo a committed change
            logger.exception("sending the %s email failed", template)

    transaction.on_commit(_send)


def request_paypal_email_change(*, user_id: UUID, email: str) -> PayPalEmailView:
    """Set (or change) the PayPal email: it is unconfirmed until the link sent to it is used.

    The caller (the settings page) has checked sudo mode. The account's own email is told of the
    change. Raises ValidationError({"email": ...}) for a bad address and changes nothing.
    """
    from kangrow.accounts import api as accounts_api
    from kangrow.notifications import api as notifications_api

    email = _clean_paypal_email(email)
    user = accounts_api.get_user(user_id=user_id)
    if user is None or not user.is_active:
        raise ValidationError({"email": "This account cannot set a PayPal email."})
    raw = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        row = PayPalAccount.objects.select_for_update().filter(user_id=user_id).first()
        if row is not None and row.email.lower() == email.lower() and row.confirmed_at:
            raise ValidationError({"email": "This is already your confirmed PayPal email."})
        previous = row.email if row is not None else None
        if row is None:
            row = PayPalAccount(user_id=user_id)
        row.email = email
        row.confirmed_at = None
        row.token_digest = _digest(raw)
        row.token_sent_at = now
        row.save()
        _send_on_commit(
            to=email,
            template="confirm_paypal",
            subject="Confirm your PayPal email for KanGrow payouts",
            context={"account_email": user.email, "url": _url(f"/payouts/settings/confirm/{raw}")},
        )
        notifications_api.notify(
            user_id=user_id,
            kind="paypal_email.changed",
            title="Your PayPal email for payouts was changed",
            body=(
                f"Your PayPal email for payouts is now {email}"
                + (f" (it was {previous})" if previous else "")
                + ". Payouts go to it once you confirm it with the link we sent there. "
                "If you did not make this change, change your password and contact us."
            ),
            data={"email": email, "previous": previous or ""},
        )
    return get_paypal_email(user_id=user_id)  # type: ignore[return-value]


def confirm_paypal_email(*, user_id: UUID, token: str) -> bool:
    """Use a confirmation link (single use, 7 days, only by the account it was sent for)."""
    if not token or "\x00" in token or len(token) > 200:
        return False
    digest = _digest(token)
    now = timezone.now()
    with transaction.atomic():
        row = (
            PayPalAccount.objects.select_for_update()
            .filter(
                user_id=user_id,
                token_digest__isnull=False,
                token_sent_at__gt=now - CONFIRM_VALIDITY,
            )
            .first()
        )
        if row is None or not hmac.compare_digest(bytes(row.token_digest), digest):
            return False
        updated = PayPalAccount.objects.filter(pk=row.pk, token_digest=row.token_digest).update(
            confirmed_at=now, token_digest=None, updated_at=now
        )
    return updated == 1


def set_confirmed_paypal_email(*, user_id: UUID, email: str) -> PayPalEmailView:
    """Provisioning and demo data: set the PayPal email as confirmed, without emails."""
    email = _clean_paypal_email(email)
    now = timezone.now()
    with transaction.atomic():
        row, _ = PayPalAccount.objects.select_for_update().get_or_create(
            user_id=user_id, defaults={"email": email, "confirmed_at": now}
        )
        if row.email != email or row.confirmed_at is None:
            row.confirmed_at = now if row.email != email else (row.confirmed_at or now)
            row.email = email
            row.token_digest = None
            row.save()
    return get_paypal_email(user_id=user_id)  # type: ignore[return-value]
