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
import json
import logging
import secrets
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Q, Sum
from django.template.loader import render_to_string
from django.utils import timezone
from uuid_utils.compat import uuid7

from kangrow.core.db import insert_rows, param_chunks
from kangrow.core.money import Money
from kangrow.core.text import reject_nul
from kangrow.integrations import paypal
from kangrow.integrations.paypal.types import (
    ITEM_MONEY_BACK_STATUSES,
    ITEM_REFUNDED,
    ITEM_REVERSED,
    ITEM_SUCCESS,
    ITEM_UNCLAIMED,
)
from kangrow.ledger import api as ledger_api
from kangrow.notifications import api as notifications_api

from .models import PayoutBatch, PayoutItem, PayoutRun, PayPalAccount, PayPalWebhookEvent

logger = logging.getLogger(__name__)

CONFIRM_VALIDITY = timedelta(days=7)
PAYPAL_RECEIVER_MAX = 127  # payout_item.receiver.maxLength in PayPal's contract
CHANGES_PER_HOUR = 5
MAX_BATCH_ITEMS = 15_000  # PayPal's create_payout_request.items.maxItems
MIN_PARALLEL_BATCH = 1_000  # below that, one batch claims faster than two side by side
UNCLAIMED_DAYS = 30  # PayPal returns unclaimed payouts after 30 days; we cancel them then
EMAIL_SUBJECT = "You have a payout from KanGrow"
EMAIL_MESSAGE = "Your KanGrow affiliate commissions have been paid to your PayPal account."
ITEM_NOTE = "KanGrow affiliate commissions"


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
    if len(value) > PAYPAL_RECEIVER_MAX:
        limit = f"at most {PAYPAL_RECEIVER_MAX} characters"
        raise ValidationError({"email": f"PayPal accepts email addresses of {limit}."})
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


def _too_many_changes(user_id: UUID) -> bool:
    """At most CHANGES_PER_HOUR confirmation emails per affiliate and hour (no mail bombing)."""
    key = f"kangrow:paypal-email-changes:{user_id}"
    if cache.add(key, 1, timeout=3600):
        return False
    try:
        return cache.incr(key) > CHANGES_PER_HOUR
    except ValueError:  # expired in between
        cache.add(key, 1, timeout=3600)
        return False


def request_paypal_email_change(*, user_id: UUID, email: str) -> PayPalEmailView:
    """Set (or change) the PayPal email: it is unconfirmed until the link sent to it is used.

    The caller (the settings page) has checked sudo mode. The account's own email is told of the
    change. Raises ValidationError({"email": ...}) for a bad address and changes nothing.
    """
    from kangrow.accounts import api as accounts_api

    email = _clean_paypal_email(email)
    user = accounts_api.get_user(user_id=user_id)
    if user is None or not user.is_active:
        raise ValidationError({"email": "This account cannot set a PayPal email."})
    if _too_many_changes(user_id):
        raise ValidationError(
            {"email": "Too many PayPal email changes. Please wait an hour and try again."}
        )
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


# --------------------------------------------------------------------------- eligibility


def _affiliate_in_good_standing(user: Any) -> bool:
    return bool(
        user is not None
        and user.approved_affiliate
        and user.verified
        and user.email_verified
        and not user.banned
        and not user.blocked
        and user.deleted_at is None
    )


def _minimum(minimum: int | None = None) -> int:
    return max(int(settings.KANGROW_PAYOUT_MINIMUM if minimum is None else minimum), 1)


@dataclass(frozen=True, slots=True)
class CurrencyStatus:
    """One currency of an affiliate's money, as the payouts page shows it (minor units)."""

    currency: str
    pending: int
    payable: int
    paid: int
    in_payout: int
    available: int
    minimum: int
    progress_percent: int  # available towards the minimum, 0..100
    eligible: bool
    reasons: tuple[str, ...]  # why the available money is not paid yet (empty when eligible)
    pending_until: datetime | None  # when the earliest commission in hold becomes payable


@dataclass(frozen=True, slots=True)
class PayoutOverview:
    paypal: PayPalEmailView | None
    minimum: int
    currencies: tuple[CurrencyStatus, ...]
    eligible: bool  # some currency is payable now
    withdrawal_requested_at: datetime | None


def _fmt(amount: int, currency: str) -> str:
    return Money(amount, currency).format()


def get_payout_overview(*, user_id: UUID) -> PayoutOverview:
    """Balances per currency, the threshold, progress and why money is not paid yet."""
    from kangrow.accounts import api as accounts_api

    user = accounts_api.get_user(user_id=user_id)
    paypal_view = get_paypal_email(user_id=user_id)
    minimum = _minimum()
    pending_until = ledger_api.get_pending_until(affiliate_id=user_id)
    statuses = []
    for balance in ledger_api.get_balances(affiliate_id=user_id):
        reasons = []
        if not _affiliate_in_good_standing(user):
            reasons.append("Your account is not approved for payouts.")
        if paypal_view is None:
            reasons.append("Add a PayPal email to be paid.")
        elif not paypal_view.confirmed:
            reasons.append(
                f"Confirm your PayPal email {paypal_view.email} with the link we sent to it."
            )
        if balance.available < minimum:
            reasons.append(
                f"Below the minimum of {_fmt(minimum, balance.currency)}: "
                f"{_fmt(minimum - balance.available, balance.currency)} to go."
            )
        until = pending_until.get(balance.currency)
        if balance.pending > 0 and until is not None:
            reasons.append(
                f"{_fmt(balance.pending, balance.currency)} is in the hold period "
                f"until {until:%Y-%m-%d}."
            )
        if balance.in_payout > 0:
            reasons.append(
                f"{_fmt(balance.in_payout, balance.currency)} is on its way through PayPal."
            )
        eligible = (
            _affiliate_in_good_standing(user)
            and paypal_view is not None
            and paypal_view.confirmed
            and balance.available >= minimum
        )
        progress = 0 if balance.available <= 0 else min(100, balance.available * 100 // minimum)
        statuses.append(
            CurrencyStatus(
                currency=balance.currency,
                pending=balance.pending,
                payable=balance.payable,
                paid=balance.paid,
                in_payout=balance.in_payout,
                available=balance.available,
                minimum=minimum,
                progress_percent=progress,
                eligible=eligible,
                reasons=tuple(reasons),
                pending_until=until,
            )
        )
    return PayoutOverview(
        paypal=paypal_view,
        minimum=minimum,
        currencies=tuple(statuses),
        eligible=any(s.eligible for s in statuses),
        withdrawal_requested_at=paypal_view.withdrawal_requested_at if paypal_view else None,
    )


def request_withdrawal(*, user_id: UUID) -> PayoutOverview:
    """Ask to be paid in the next run (which pays every eligible affiliate anyway).

    Raises PayoutError("not_eligible") when no currency is payable now; changes nothing then.
    """
    overview = get_payout_overview(user_id=user_id)
    if not overview.eligible:
        reasons = [r for c in overview.currencies for r in c.reasons] or [
            f"Your balance is below the minimum of {_fmt(overview.minimum, 'USD')}."
        ]
        raise PayoutError("not_eligible", " ".join(dict.fromkeys(reasons)))
    PayPalAccount.objects.filter(user_id=user_id, withdrawal_requested_at__isnull=True).update(
        withdrawal_requested_at=timezone.now(), updated_at=timezone.now()
    )
    return get_payout_overview(user_id=user_id)


@dataclass(frozen=True, slots=True)
class PayoutItemView:
    id: UUID
    sender_item_id: UUID
    created_at: datetime
    amount: int
    currency: str
    receiver: str
    state: str
    transaction_status: str
    status_label: str
    error_message: str
    settled_at: datetime | None


_STATUS_LABELS = {
    "SUCCESS": "Paid",
    "PENDING": "Processing at PayPal",
    "ONHOLD": "On hold at PayPal",
    "UNCLAIMED": "Unclaimed: create or confirm your PayPal account with this email",
    "FAILED": "Failed: money back in your balance",
    "RETURNED": "Returned: money back in your balance",
    "BLOCKED": "Blocked by PayPal: money back in your balance",
    "REFUNDED": "Refunded: money back in your balance",
    "REVERSED": "Reversed: money back in your balance",
    "DENIED": "Denied by PayPal: money back in your balance",
}


def _item_view(item: PayoutItem) -> PayoutItemView:
    label = _STATUS_LABELS.get(item.transaction_status) or (
        "Sending to PayPal"
        if item.state == PayoutItem.State.IN_FLIGHT
        else "Not sent: money back in your balance"
    )
    return PayoutItemView(
        id=item.id,
        sender_item_id=item.sender_item_id,
        created_at=item.created_at,
        amount=item.amount,
        currency=item.currency,
        receiver=item.receiver,
        state=item.state,
        transaction_status=item.transaction_status,
        status_label=label,
        error_message=item.error_message,
        settled_at=item.settled_at,
    )


def list_payouts(*, affiliate_id: UUID, limit: int = 100) -> list[PayoutItemView]:
    """The affiliate's payouts, newest first."""
    rows = PayoutItem.objects.filter(affiliate_id=affiliate_id).order_by("-created_at")[:limit]
    return [_item_view(item) for item in rows]


# --------------------------------------------------------------------------- runs


@dataclass(frozen=True, slots=True)
class PreviewLine:
    affiliate_id: UUID
    affiliate_email: str
    paypal_email: str
    currency: str
    amount: int
    withdrawal_requested: bool


@dataclass(frozen=True, slots=True)
class PayoutPreview:
    minimum: int
    lines: tuple[PreviewLine, ...]
    totals: dict[str, int]  # per currency


# _affiliate_in_good_standing as a filter on PayPalAccount rows.
_ACCOUNT_IN_GOOD_STANDING = Q(
    confirmed_at__isnull=False,
    user__approved_affiliate=True,
    user__verified=True,
    user__email_verified=True,
    user__banned=False,
    user__blocked=False,
    user__deleted_at__isnull=True,
)


@dataclass(frozen=True, slots=True)
class _Payee:
    account_id: UUID
    affiliate_email: str
    paypal_email: str
    withdrawal_requested: bool


def _payees(ids: list[UUID], *, lock: bool = False) -> dict[UUID, _Payee]:
    """Of those affiliates, who may be paid and where: a confirmed PayPal email and good
    standing, read in one query (per few hundred ids on SQLite). With lock, their PayPal account
    rows are taken FOR UPDATE in user id order: the claiming run holds these affiliates whole
    until it commits, and another run at the same time waits for that batch (one transaction,
    seconds), then finds their money claimed. Waiting, not skipping: a skipped affiliate would
    miss the monthly run because of a withdrawal request saved at that moment."""
    payees: dict[UUID, _Payee] = {}
    for chunk in param_chunks(ids):
        rows = PayPalAccount.objects.filter(_ACCOUNT_IN_GOOD_STANDING, user_id__in=chunk)
        if lock:
            rows = rows.select_for_update(of=("self",)).order_by("user_id")
        for user_id, account_id, user_email, email, requested in rows.values_list(
            "user_id", "id", "user__email", "email", "withdrawal_requested_at"
        ):
            payees[user_id] = _Payee(account_id, user_email, email, requested is not None)
    return payees


def _eligible_lines(minimum: int) -> list[PreviewLine]:
    totals = [t for t in ledger_api.list_available_totals() if t.amount >= minimum]
    payees = _payees(sorted({t.affiliate_id for t in totals}))
    lines = []
    for total in totals:
        payee = payees.get(total.affiliate_id)
        if payee is None:
            continue
        lines.append(
            PreviewLine(
                affiliate_id=total.affiliate_id,
                affiliate_email=payee.affiliate_email,
                paypal_email=payee.paypal_email,
                currency=total.currency,
                amount=total.amount,
                withdrawal_requested=payee.withdrawal_requested,
            )
        )
    return lines


def _totals(pairs: list[tuple[str, int]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for currency, amount in pairs:
        totals[currency] = totals.get(currency, 0) + amount
    return dict(sorted(totals.items()))


def preview_payout_run(*, minimum: int | None = None) -> PayoutPreview:
    """Who a run would pay now, how much, and the total per currency. Writes nothing."""
    minimum = _minimum(minimum)
    lines = _eligible_lines(minimum)
    return PayoutPreview(
        minimum=minimum,
        lines=tuple(lines),
        totals=_totals([(line.currency, line.amount) for line in lines]),
    )


@dataclass(frozen=True, slots=True)
class RunSummary:
    run_id: UUID | None
    items: int
    totals: dict[str, int]
    batches: dict[str, str] = field(default_factory=dict)  # sender_batch_id -> status
    resumed: dict[str, str] = field(default_factory=dict)  # earlier batches finished now


def _claim_batch(run: PayoutRun, lines: list[PreviewLine], minimum: int) -> UUID | None:
    """One transaction: the batch, its items and their ledger claims (or nothing).

    Set-based, a constant number of statements for up to MAX_BATCH_ITEMS lines: the affiliates'
    PayPal accounts are read again (still confirmed, still in good standing) and locked, the
    ledger claims every item's rows in one UPDATE, and the items are inserted at once
    with the amounts the ledger actually claimed (not the earlier read)."""
    with transaction.atomic():
        payees = _payees(sorted({line.affiliate_id for line in lines}), lock=True)
        claims = [
            ledger_api.PayoutClaim(
                affiliate_id=line.affiliate_id, currency=line.currency, payout_item_id=uuid7()
            )
            for line in lines
            # changed since the list was read, or PayPal would refuse it
            if line.affiliate_id in payees
            and len(payees[line.affiliate_id].paypal_email) <= PAYPAL_RECEIVER_MAX
        ]
        claimed = ledger_api.claim_payable_entries_bulk(claims=claims, minimum=minimum)
        if not claimed:  # below the minimum now, or another run holds the rows
            return None
        batch = PayoutBatch.objects.create(run=run)
        insert_rows(
            PayoutItem,
            [
                PayoutItem(
                    id=claim.payout_item_id,
                    batch=batch,
                    affiliate_id=claim.affiliate_id,
                    amount=claimed[claim.payout_item_id],
                    currency=claim.currency,
                    receiver=payees[claim.affiliate_id].paypal_email,
                )
                for claim in claims
                if claim.payout_item_id in claimed
            ],
        )
        paid = {claim.affiliate_id for claim in claims if claim.payout_item_id in claimed}
        requested = [
            payee.account_id
            for affiliate_id, payee in payees.items()
            if payee.withdrawal_requested and affiliate_id in paid
        ]
        if requested:  # honoured (rows locked above, so the flag read is current); a request
            # left unpaid (below the minimum after a clawback) stays visible
            PayPalAccount.objects.filter(pk__in=requested).update(withdrawal_requested_at=None)
        return batch.id


def _batches(lines: list[PreviewLine], workers: int) -> list[list[PreviewLine]]:
    """The run's lines in balanced batches of at most MAX_BATCH_ITEMS. With several claim
    workers a big run is cut into at least that many batches (of MIN_PARALLEL_BATCH lines or
    more), so they are claimed side by side; PayPal takes any number of batches."""
    count = max(-(-len(lines) // MAX_BATCH_ITEMS), min(workers, len(lines) // MIN_PARALLEL_BATCH))
    size = -(-len(lines) // max(count, 1))
    return [lines[i : i + size] for i in range(0, len(lines), size)]


def _claim_batch_on_own_connection(
    run: PayoutRun, lines: list[PreviewLine], minimum: int
) -> UUID | None:
    try:
        return _claim_batch(run, lines, minimum)
    finally:
        connection.close()  # this worker thread's connection, not the caller's


def _claim_all(
    run: PayoutRun,
    chunks: list[list[PreviewLine]],
    minimum: int,
    progress: Callable[[int, int], None] | None,
) -> list[UUID | None]:
    """Each batch in its own transaction; on PostgreSQL, outside a caller's transaction, up to
    KANGROW_PAYOUT_CLAIM_WORKERS at once on their own connections. Every batch locks its PayPal
    accounts in user id order and the lines are sorted by affiliate, so two claims never wait
    on each other in a cycle (an affiliate paid in two currencies whose lines straddle two
    batches makes the second wait for the first to commit)."""
    workers = min(_claim_workers(), len(chunks))
    results: list[UUID | None] = []
    if workers <= 1 or connection.vendor != "postgresql" or connection.in_atomic_block:
        for done, chunk in enumerate(chunks, start=1):
            results.append(_claim_batch(run, chunk, minimum))
            if progress:
                progress(done, len(chunks))
        return results
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="payout-claim") as pool:
        futures = [pool.submit(_claim_batch_on_own_connection, run, c, minimum) for c in chunks]
        for done, _ in enumerate(as_completed(futures), start=1):
            if progress:
                progress(done, len(chunks))
        return [future.result() for future in futures]  # the first error, if any, raised here


def _claim_workers() -> int:
    return max(int(getattr(settings, "KANGROW_PAYOUT_CLAIM_WORKERS", 1)), 1)


def claim_payout_run(
    *,
    source: str,
    started_by_id: UUID | None = None,
    minimum: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[UUID | None, list[UUID]]:
    """Create a run and claim every eligible affiliate's money into committed batches of at
    most 15,000 items, without calling PayPal. Returns (run id, batch ids)."""
    minimum = _minimum(minimum)
    lines = _eligible_lines(minimum)
    if not lines:
        return None, []
    run = PayoutRun.objects.create(source=source, started_by_id=started_by_id, minimum=minimum)
    results = _claim_all(run, _batches(lines, _claim_workers()), minimum, progress)
    batch_ids = [batch_id for batch_id in results if batch_id is not None]
    sums = list(
        PayoutItem.objects.filter(batch__run=run)
        .values("currency")
        .annotate(total=Sum("amount"), n=Count("id"))
        .order_by("currency")
    )
    totals = {row["currency"]: row["total"] for row in sums}
    count = sum(row["n"] for row in sums)
    PayoutRun.objects.filter(pk=run.pk).update(item_count=count, totals=totals)
    return run.id, batch_ids


def run_payouts(
    *,
    source: str,
    started_by_id: UUID | None = None,
    minimum: int | None = None,
    client: paypal.PayPalClient | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RunSummary:
    """Pay everyone eligible: finish batches an earlier run left unsent, claim, then submit."""
    resumed = resume_unsent_batches(client=client)
    run_id, batch_ids = claim_payout_run(
        source=source, started_by_id=started_by_id, minimum=minimum
    )
    statuses = {}
    for done, batch_id in enumerate(batch_ids, start=1):
        status = submit_batch(batch_id=batch_id, client=client)
        sender = PayoutBatch.objects.filter(pk=batch_id).values_list("sender_batch_id", flat=True)
        statuses[str(sender.first())] = status
        if progress:
            progress(done, len(batch_ids))
    if run_id is None:
        return RunSummary(run_id=None, items=0, totals={}, batches={}, resumed=resumed)
    PayoutRun.objects.filter(pk=run_id).update(finished_at=timezone.now())
    run = PayoutRun.objects.get(pk=run_id)
    return RunSummary(
        run_id=run.id,
        items=run.item_count,
        totals=dict(run.totals),
        batches=statuses,
        resumed=resumed,
    )


# --------------------------------------------------------------------------- submission


def _client(client: paypal.PayPalClient | None) -> paypal.PayPalClient:
    return client if client is not None else paypal.get_client()


def _paypal_items(batch_id: UUID) -> list[paypal.PayoutItem]:
    return [
        paypal.PayoutItem(
            sender_item_id=str(item.sender_item_id),
            receiver=item.receiver,
            amount_minor=item.amount,
            currency=item.currency,
            note=ITEM_NOTE,
        )
        for item in PayoutItem.objects.filter(batch_id=batch_id).order_by("id")
    ]


def _record_error(batch_id: UUID, error: Exception) -> None:
    PayoutBatch.objects.filter(pk=batch_id).update(
        last_error=f"{type(error).__name__}: {error}"[:2000], updated_at=timezone.now()
    )


def submit_batch(*, batch_id: UUID, client: paypal.PayPalClient | None = None) -> str:
    """Hand a committed batch to PayPal, or find out that PayPal already has it.

    Always sends the batch's own sender_batch_id (PayPal answers a repeat with a duplicate
    error, read as "PayPal has it"). An unknown outcome leaves it "submitting" for the next try.
    """
    with transaction.atomic():
        batch = PayoutBatch.objects.select_for_update().filter(pk=batch_id).first()
        if batch is None:
            return "missing"
        if batch.status not in (PayoutBatch.Status.CREATED, PayoutBatch.Status.SUBMITTING):
            return batch.status
        batch.status = PayoutBatch.Status.SUBMITTING
        batch.attempts += 1
        batch.save(update_fields=["status", "attempts", "updated_at"])
    items = _paypal_items(batch_id)
    try:
        lookup = _client(client).resolve_batch(
            sender_batch_id=str(batch.sender_batch_id),
            items=items,
            email_subject=EMAIL_SUBJECT,
            email_message=EMAIL_MESSAGE,
        )
    except paypal.PayPalValidationError as exc:
        if batch.attempts > 1:
            # An earlier attempt's outcome is unknown: PayPal may hold the batch, so releasing the
            # money could pay it twice. Keep it held and retried; staff check it in PayPal.
            logger.error("paypal refused re-sent batch %s: %s", batch.sender_batch_id, exc)
            _record_error(batch_id, exc)
            return PayoutBatch.Status.SUBMITTING
        # Refused as invalid on the first attempt: nothing was created, so the money comes back.
        logger.error("paypal refused batch %s: %s", batch.sender_batch_id, exc)
        _reject_batch(batch_id, exc)
        return PayoutBatch.Status.REJECTED
    except paypal.PayPalError as exc:  # unavailable, auth, unexpected: outcome unknown, retry
        logger.warning("paypal batch %s not confirmed yet: %s", batch.sender_batch_id, exc)
        _record_error(batch_id, exc)
        return PayoutBatch.Status.SUBMITTING
    now = timezone.now()
    with transaction.atomic():
        batch = PayoutBatch.objects.select_for_update().get(pk=batch_id)
        if batch.status == PayoutBatch.Status.SUBMITTING:
            batch.status = PayoutBatch.Status.SUBMITTED
            batch.submitted_at = now
            batch.last_error = ""
        batch.payout_batch_id = batch.payout_batch_id or lookup.payout_batch_id
        if lookup.created_now is not None:
            batch.batch_status = lookup.created_now.batch_status
        batch.save()
        return batch.status


def _reject_batch(batch_id: UUID, error: Exception) -> None:
    with transaction.atomic():
        batch = PayoutBatch.objects.select_for_update().get(pk=batch_id)
        if batch.status != PayoutBatch.Status.SUBMITTING:
            return
        batch.status = PayoutBatch.Status.REJECTED
        batch.last_error = f"{type(error).__name__}: {error}"[:2000]
        batch.completed_at = timezone.now()
        batch.save()
        for item in batch.items.select_for_update().filter(state=PayoutItem.State.IN_FLIGHT):
            item.error_name = "REJECTED"
            item.error_message = "PayPal refused the payout request."
            _return_money(item, "DENIED", reason="PayPal refused the payout request")
            item.save()


def resume_unsent_batches(*, client: paypal.PayPalClient | None = None) -> dict[str, str]:
    """Re-send (with their own ids) batches left created or submitting; returns new statuses."""
    return {
        str(batch.sender_batch_id): submit_batch(batch_id=batch.id, client=client)
        for batch in PayoutBatch.objects.filter(
            status__in=[PayoutBatch.Status.CREATED, PayoutBatch.Status.SUBMITTING]
        ).order_by("created_at")
    }


# --------------------------------------------------------------------------- settlement

_REASONS = {
    "FAILED": "PayPal could not deliver it",
    "RETURNED": "it was not claimed within 30 days and came back",
    "BLOCKED": "PayPal blocked it",
    "REFUNDED": "it was refunded",
    "REVERSED": "PayPal reversed it",
    "DENIED": "PayPal denied it",
}


def _notify_sent(item: PayoutItem) -> None:
    amount = _fmt(item.amount, item.currency)
    notifications_api.notify(
        user_id=item.affiliate_id,
        kind="payout.sent",
        title=f"Payout sent: {amount}",
        body=f"{amount} was paid to your PayPal account {item.receiver}.",
        data={
            "payout_item_id": str(item.id),
            "amount": item.amount,
            "currency": item.currency,
            "receiver": item.receiver,
        },
        dedupe_key=f"payout.sent:{item.id}",
    )


def _return_money(item: PayoutItem, status: str, *, reason: str | None = None) -> None:
    """Money back to payable (ledger rows), item returned, affiliate told why."""
    why = reason or _REASONS.get(status, f"PayPal reported {status}")
    detail = f" PayPal said: {item.error_message}" if item.error_message else ""
    ledger_api.release_payout_item(payout_item_id=item.id, note=f"payout {status.lower()}: {why}")
    item.state = PayoutItem.State.RETURNED
    item.settled_at = timezone.now()
    amount = _fmt(item.amount, item.currency)
    notifications_api.notify(
        user_id=item.affiliate_id,
        kind="payout.failed",
        title=f"Payout of {amount} came back",
        body=(
            f"Your payout of {amount} to {item.receiver} was not completed: {why}.{detail} "
            "The money is back in your balance and goes out with the next payout; "
            "check that your PayPal email is right and can receive payments."
        ),
        data={
            "payout_item_id": str(item.id),
            "amount": item.amount,
            "currency": item.currency,
            "status": status,
            "reason": why,
            "error": item.error_message,
        },
        dedupe_key=f"payout.failed:{item.id}",
    )


def _find_item(result: paypal.ItemResult) -> PayoutItem | None:
    rows = PayoutItem.objects.select_for_update()
    if result.payout_item_id:
        found = rows.filter(payout_item_id=result.payout_item_id).first()
        if found is not None:
            return found
    try:
        sender_item_id = UUID(str(result.sender_item_id))
    except ValueError:
        return None
    return rows.filter(sender_item_id=sender_item_id).first()


def apply_item_result(*, result: paypal.ItemResult, now: datetime | None = None) -> str:
    """Apply what PayPal reports for one item (webhook or poll); returns what it did.

    SUCCESS pays (ledger payout_sent, "payout.sent"); FAILED, RETURNED, BLOCKED, DENIED, and
    REFUNDED/REVERSED (also after SUCCESS) bring the money back (ledger payout_return,
    "payout.failed"); PENDING, ONHOLD and UNCLAIMED wait. Replays change nothing.
    """
    now = now or timezone.now()
    status = (result.transaction_status or "").upper()
    with transaction.atomic():
        item = _find_item(result)
        if item is None:
            return "unknown_item"
        if result.payout_item_id and not item.payout_item_id:
            item.payout_item_id = result.payout_item_id
        if result.amount_minor != item.amount or result.currency != item.currency:
            logger.error("paypal item %s amount differs from ours", item.sender_item_id)
        outcome = "waiting"
        if item.state == PayoutItem.State.RETURNED:
            outcome = "already_returned"
        elif item.state == PayoutItem.State.PAID and status not in (ITEM_REFUNDED, ITEM_REVERSED):
            outcome = "already_paid"
        else:
            item.transaction_status = status
            if result.transaction_id:
                item.transaction_id = result.transaction_id[:64]
            if result.error is not None:
                item.error_name = result.error.name[:128]
                item.error_message = result.error.message
            if status == ITEM_SUCCESS:
                ledger_api.settle_payout_item(payout_item_id=item.id, note="PayPal paid the payout")
                item.state = PayoutItem.State.PAID
                item.settled_at = now
                _notify_sent(item)
                outcome = "paid"
            elif status in ITEM_MONEY_BACK_STATUSES:
                _return_money(item, status)
                outcome = "returned"
            elif status == ITEM_UNCLAIMED and item.unclaimed_since is None:
                item.unclaimed_since = now
        item.save()
        _complete_batch_if_settled(item.batch_id, now)
        return outcome


def _complete_batch_if_settled(batch_id: UUID, now: datetime) -> None:
    if PayoutItem.objects.filter(batch_id=batch_id, state=PayoutItem.State.IN_FLIGHT).exists():
        return
    PayoutBatch.objects.filter(pk=batch_id, status=PayoutBatch.Status.SUBMITTED).update(
        status=PayoutBatch.Status.COMPLETED, completed_at=now, updated_at=now
    )


def sync_batch(
    *, batch_id: UUID, client: paypal.PayPalClient | None = None, now: datetime | None = None
) -> dict[str, int]:
    """Poll one submitted batch and apply every item's status; returns outcome counts."""
    now = now or timezone.now()
    batch = PayoutBatch.objects.filter(pk=batch_id).first()
    counts: dict[str, int] = {}
    if batch is None or not batch.payout_batch_id:
        return counts
    try:
        result = _client(client).get_batch(batch.payout_batch_id)
    except paypal.PayPalError as exc:
        _record_error(batch.id, exc)
        return counts
    PayoutBatch.objects.filter(pk=batch.id).update(
        batch_status=result.batch_status, last_polled_at=now, updated_at=now
    )
    for item_result in result.items:
        outcome = apply_item_result(result=item_result, now=now)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def cancel_expired_unclaimed(
    *, client: paypal.PayPalClient | None = None, now: datetime | None = None
) -> int:
    """Items unclaimed for 30 days: cancel at PayPal (they become RETURNED), money back."""
    now = now or timezone.now()
    due = PayoutItem.objects.filter(
        state=PayoutItem.State.IN_FLIGHT,
        transaction_status=ITEM_UNCLAIMED,
        unclaimed_since__lte=now - timedelta(days=UNCLAIMED_DAYS),
        payout_item_id__isnull=False,
    ).values_list("payout_item_id", flat=True)
    done = 0
    for payout_item_id in list(due):
        try:
            result = _client(client).cancel_unclaimed_item(payout_item_id)
        except paypal.PayPalError as exc:
            logger.warning("cancelling unclaimed item %s failed: %s", payout_item_id, exc)
            continue
        if apply_item_result(result=result, now=now) == "returned":
            done += 1
    return done


def sync_open_batches(
    *, client: paypal.PayPalClient | None = None, now: datetime | None = None
) -> dict[str, int]:
    """The scheduled catch-up: re-send unsent batches, poll submitted ones, cancel items
    unclaimed for 30 days. Returns outcome counts."""
    resume_unsent_batches(client=client)
    counts: dict[str, int] = {}
    for batch_id in PayoutBatch.objects.filter(status=PayoutBatch.Status.SUBMITTED).values_list(
        "id", flat=True
    ):
        for outcome, n in sync_batch(batch_id=batch_id, client=client, now=now).items():
            counts[outcome] = counts.get(outcome, 0) + n
    counts["cancelled_unclaimed"] = cancel_expired_unclaimed(client=client, now=now)
    return counts


# --------------------------------------------------------------------------- webhooks


class WebhookRejected(Exception):
    """The delivery is not a genuine PayPal event (or cannot be read); nothing was stored."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class WebhookUnverifiable(Exception):
    """PayPal could not be asked right now: answer 503 so PayPal delivers again later."""


def handle_paypal_webhook(
    *, headers: Mapping[str, str], body: bytes, client: paypal.PayPalClient | None = None
) -> str:
    """Verify a webhook delivery with PayPal, store it once (unique event id), apply it."""
    webhook_id = settings.PAYPAL_WEBHOOK_ID
    if not webhook_id:
        raise WebhookRejected("not_configured", "PayPal webhooks are not configured.")
    if b"\x00" in body or len(body) > 1_000_000:
        raise WebhookRejected("bad_body", "The body is not a PayPal event.")
    try:
        verified = _client(client).verify_webhook_signature(
            headers=headers, event_body=body, webhook_id=webhook_id
        )
    except UnicodeDecodeError:
        raise WebhookRejected("bad_body", "The body is not a PayPal event.")
    except paypal.PayPalValidationError:
        verified = False
    except paypal.PayPalError as exc:
        raise WebhookUnverifiable(str(exc))
    if not verified:
        raise WebhookRejected("bad_signature", "The webhook signature could not be verified.")
    event = json.loads(body)
    if _has_nul(event):  # "\u0000" escapes: PostgreSQL text and jsonb cannot hold them
        raise WebhookRejected("bad_body", "The event contains a NUL character.")
    event_id = str(event.get("id") or "")
    event_type = str(event.get("event_type") or "")
    if not event_id or len(event_id) > 128 or len(event_type) > 64:
        raise WebhookRejected("bad_body", "The event has no usable id or type.")
    try:
        with transaction.atomic():
            row = PayPalWebhookEvent.objects.create(
                event_id=event_id, event_type=event_type, payload=event
            )
    except IntegrityError:
        return "duplicate"
    try:
        outcome = _apply_event(event)
    except Exception as exc:  # stored: the poll settles the item anyway; the admin sees why
        logger.exception("applying paypal event %s failed", event_id)
        PayPalWebhookEvent.objects.filter(pk=row.pk).update(
            outcome=f"error: {type(exc).__name__}"[:64]
        )
        return "stored"
    PayPalWebhookEvent.objects.filter(pk=row.pk).update(
        outcome=outcome[:64], processed_at=timezone.now()
    )
    return outcome


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _apply_event(event: dict[str, Any]) -> str:
    event_type = str(event.get("event_type") or "")
    resource = event.get("resource")
    if not isinstance(resource, dict):
        return "ignored"
    if event_type.startswith("PAYMENT.PAYOUTS-ITEM."):
        try:
            result = paypal.ItemResult.from_api(resource)
        except (KeyError, TypeError, ValueError):
            return "unreadable_item"
        return apply_item_result(result=result)
    if event_type.startswith("PAYMENT.PAYOUTSBATCH."):
        header = resource.get("batch_header") or {}
        sender = (header.get("sender_batch_header") or {}).get("sender_batch_id")
        try:
            sender_batch_id = UUID(str(sender))
        except ValueError:
            return "unknown_batch"
        with transaction.atomic():
            batch = (
                PayoutBatch.objects.select_for_update()
                .filter(sender_batch_id=sender_batch_id)
                .first()
            )
            if batch is None:
                return "unknown_batch"
            batch.payout_batch_id = batch.payout_batch_id or str(header.get("payout_batch_id"))[:64]
            batch.batch_status = str(header.get("batch_status") or batch.batch_status)[:16]
            if batch.status == PayoutBatch.Status.SUBMITTING:
                batch.status = PayoutBatch.Status.SUBMITTED  # PayPal has it
                batch.submitted_at = timezone.now()
            batch.save()
        return "batch_updated"
    return "ignored"
