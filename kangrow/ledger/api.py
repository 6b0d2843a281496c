"""The ledger context's public API: money events in, commissions, refunds, balances.

Every event is stored first (`ingest_event`, unique on source + external id), acknowledged, and
processed after commit, in batches by a drain (`drain_events`; `process_event` for one event).
An event that depends on one that has not arrived yet
(an invoice before the customer's signup, a refund before its invoice, a cancellation before the
customer was attributed) goes to "waiting" and is retried with backoff by a scheduled task, and
woken at once when a later event of the same customer is processed.

Ledger rows are append-only; balances are sums. Rounding happens only in `apply_rate`.
"""

from __future__ import annotations

import calendar
import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Min, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from kangrow.core.db import insert_rows, insert_unless_present, param_chunks
from kangrow.core.money import Money, apply_rate
from kangrow.notifications import api as notifications_api
from kangrow.programs import api as programs_api
from kangrow.tracking import api as tracking_api
from kangrow.webhooks_out import api as webhooks_out_api

from .models import Commission, LedgerClaim, LedgerEntry, PaymentEvent

logger = logging.getLogger(__name__)

EVENT_TYPES = (
    "customer.created",
    "subscription.created",
    "invoice.paid",
    "invoice.refunded",
    "subscription.cancelled",
)
SIGNUP_TYPES = ("customer.created", "subscription.created")
MAX_WAIT_ATTEMPTS = 12  # about 20 hours of retries before an unmatched invoice is settled
MAX_FAILED_ATTEMPTS = 10
# Outcome of an event whose dependency never came within MAX_WAIT_ATTEMPTS: settled for now,
# and reopened when a later event of the same customer attributes it or pays its invoice.
GAVE_UP = "gave_up_waiting"
_BACKOFF_BASE = timedelta(seconds=30)
_BACKOFF_CAP = timedelta(hours=6)
_RECEIVED_GRACE = timedelta(minutes=2)


@dataclass(frozen=True)
class Balance:
    currency: str
    pending: int
    payable: int
    paid: int  # minor units
    in_payout: int = 0  # part of payable sent to PayPal and not settled yet
    available: int = 0  # payable minus in_payout: what the next payout would pay


@dataclass(frozen=True)
class CommissionView:
    id: UUID
    app_id: UUID
    campaign_id: UUID
    referral_id: UUID
    invoice_id: str
    currency: str
    invoice_amount: int
    rate_bps: int
    amount: int
    net_amount: int  # amount plus its refund reversals and clawbacks
    status: str
    paid_at: datetime
    available_at: datetime


class _Wait(Exception):
    """The event depends on one that has not been processed yet."""

    def __init__(self, reason: str, *, give_up_outcome: str | None = None) -> None:
        super().__init__(reason)
        self.give_up_outcome = give_up_outcome


def event_backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min … after the n-th unsuccessful attempt, capped at 6 hours."""
    return min(_BACKOFF_BASE * (2 ** max(attempts - 1, 0)), _BACKOFF_CAP)


# --- ingest ---------------------------------------------------------------------------------
#
# Processing is batched: a stored event does not get a task of its own. Its commit asks for a
# *drain* (`_schedule_drain`), unless one is already queued and has not started yet (a short-
# lived flag in the shared cache). A queued drain starts KANGROW_EVENTS_DRAIN_DELAY_MS later, so
# that it finds a batch rather than one event, and takes due events in arrival order, DRAIN_BATCH
# at a time (FOR UPDATE SKIP LOCKED, so drains on several workers never take the same event), one
# transaction per batch, each event in its own savepoint, until a batch is not full. A drain
# clears the flag before its first claim, so an event committed after that asks for a new drain:
# none is left behind. If a queued drain is lost, the flag expires and the scheduled
# `process_due_events` (a drain too) picks the events up from their stored rows.

DRAIN_BATCH = 200
DRAIN_SECONDS = 30.0  # a drain hands the rest of a backlog to a fresh task after this long
_DRAIN_FLAG = "ledger:events-drain-scheduled"
_DRAIN_FLAG_TTL = 60  # seconds; after that a lost drain task no longer holds new ones back


def _schedule_drain() -> None:
    """Queue a drain of due events unless one is queued already (called after commit)."""
    from . import tasks

    if not _processed_inline():  # inline: nothing to deduplicate
        try:
            if not cache.add(_DRAIN_FLAG, "1", timeout=_DRAIN_FLAG_TTL):
                return  # a queued drain has not started yet: it will see this event
        except Exception:  # cache down: queue one anyway
            logger.exception("could not check the events drain flag")
    try:
        tasks.drain_events.apply_async(countdown=settings.KANGROW_EVENTS_DRAIN_DELAY_MS / 1000)
    except Exception:  # broker down: the scheduled process_due_events picks the events up
        logger.exception("could not enqueue the events drain")
        with contextlib.suppress(Exception):
            cache.delete(_DRAIN_FLAG)


@dataclass(frozen=True)
class StoredEvent:
    id: UUID
    created: bool  # False: a repeat of a stored event, which changed nothing
    status: str  # the stored event's processing status right after storing


def ingest_event(
    *,
    source: str,
    external_id: str,
    app_id: UUID,
    type: str,
    payload: dict,
    occurred_at: datetime,
) -> tuple[UUID, bool]:
    """Store an event once (unique on source + external_id); process it after commit.

    Returns (event id, True) for a new event and (existing id, False) for a repeat, which
    changes nothing.
    """
    stored = store_event(
        source=source,
        external_id=external_id,
        app_id=app_id,
        type=type,
        payload=payload,
        occurred_at=occurred_at,
    )
    return stored.id, stored.created


def store_event(
    *,
    source: str,
    external_id: str,
    app_id: UUID,
    type: str,
    payload: dict,
    occurred_at: datetime,
) -> StoredEvent:
    """`ingest_event` that also says the event's status (for the acknowledgement), without
    reading the row again when it was just stored and is processed by a worker."""
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}")
    row = PaymentEvent(
        source=source,
        external_id=external_id,
        app_id=app_id,
        type=type,
        customer_id=str(payload.get("customer_id") or ""),
        invoice_id=str(payload.get("invoice_id") or ""),
        payload=payload,
        occurred_at=occurred_at,
        next_attempt_at=timezone.now() + _RECEIVED_GRACE,
    )
    # One statement, committed at once outside a transaction: a repeat inserts nothing and
    # raises nothing. The drain is asked for on commit (the caller's, when it has one).
    if not insert_unless_present(row, unique=("source", "external_id")):
        existing = (
            PaymentEvent.objects.filter(source=source, external_id=external_id)
            .values_list("id", "status")
            .first()
        )
        if existing is None:  # the row that conflicted is not visible (not under read committed)
            raise IntegrityError(f"payment event {source}:{external_id} was neither new nor found")
        return StoredEvent(id=existing[0], created=False, status=existing[1])
    transaction.on_commit(_schedule_drain)
    status = row.status
    if _processed_inline() and not transaction.get_connection().in_atomic_block:
        status = get_event_status(event_id=row.id)  # the drain ran on commit, in this process
    return StoredEvent(id=row.id, created=True, status=status)


def _processed_inline() -> bool:
    from . import tasks

    return bool(tasks.drain_events.app.conf.task_always_eager)


# --- processing -----------------------------------------------------------------------------


def _due_events_q(now: datetime) -> Q:
    """Received events at once; waiting and failed ones when their next attempt is due."""
    return Q(status=PaymentEvent.Status.RECEIVED) | Q(
        status__in=[PaymentEvent.Status.WAITING, PaymentEvent.Status.FAILED],
        next_attempt_at__lte=now,
    )


# Money events are applied by one transaction at a time. Two drains deciding one customer's
# events side by side would each miss the other's uncommitted rows: a second commission on a
# one-time campaign, a commission after a cancellation, a refund settled as "not referred".
# On PostgreSQL a transaction-scoped advisory lock, taken before anything is read, serialises
# them (a drain waits at most for one batch of another); SQLite serialises writers anyway. A
# drain applies hundreds of events a second (docs/benchmarks.md), far above the web tier's
# intake; per-customer locks are the next step if one drain at a time ever is the limit.
_APPLY_LOCK = 0x6B67_6576_656E_7473  # "kgevents"


def _serialise_applying() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_APPLY_LOCK])


def process_event(*, event_id: UUID | str) -> str:
    """Apply one stored event; returns its new status (processed, waiting or failed)."""
    with transaction.atomic():
        _serialise_applying()
        event = PaymentEvent.objects.select_for_update().filter(pk=event_id).first()
        if event is None:
            return "missing"
        if event.status == PaymentEvent.Status.PROCESSED:
            return event.status
        return _process_locked([event], in_drain=False)[0][event.id]


def process_event_batch(*, limit: int = DRAIN_BATCH) -> int:
    """Claim up to `limit` due events (arrival order, skipping those another drain holds) and
    process them in one transaction, each in its own savepoint. Returns how many were claimed.

    If the batch as a whole fails (a deadlock, a lost connection), its events are processed one
    by one instead, each in its own transaction."""
    return _claim_batch(limit)[0]


def _claim_batch(limit: int) -> tuple[int, int]:
    """process_event_batch, also saying how many waiting events the batch made due again (they
    are a drain's to take; processed one by one after a failed batch, they queue their own)."""
    ids: list[UUID] = []
    woken = 0
    try:
        with transaction.atomic():
            _serialise_applying()
            events = list(
                PaymentEvent.objects.select_for_update(skip_locked=True)
                .filter(_due_events_q(timezone.now()))
                .order_by("created_at", "id")[:limit]
            )
            ids = [e.id for e in events]
            if events:
                woken = _process_locked(events, in_drain=True)[1]
    except Exception:
        if not ids:
            raise
        logger.exception("a batch of %d money events failed; processing them one by one", len(ids))
        for event_id in ids:
            try:
                process_event(event_id=event_id)
            except Exception as exc:  # outside the event's savepoint: count it, keep going
                logger.exception("payment event %s failed outside its savepoint", event_id)
                _fail_alone(event_id, exc)
        woken = 0
    return len(ids), woken


def _fail_alone(event_id: UUID, exc: Exception) -> None:
    """Record a failed attempt of an event whose processing could not even be rolled back to its
    savepoint, in a transaction of its own, so it backs off instead of heading every batch."""
    with transaction.atomic():
        event = (
            PaymentEvent.objects.select_for_update()
            .filter(pk=event_id)
            .exclude(status=PaymentEvent.Status.PROCESSED)
            .first()
        )
        if event is not None:
            reason = f"{type(exc).__name__}: {exc}"
            _record_unsuccessful(event, PaymentEvent.Status.FAILED, reason, None)


def drain_events(*, batch_size: int = DRAIN_BATCH, seconds: float = DRAIN_SECONDS) -> int:
    """Process due events batch after batch while there is a backlog; returns how many were
    claimed.

    A batch that was not full and woke no waiting event ends the drain: every event committed
    since the drain began asked for a drain of its own (the flag is cleared first), which
    starts KANGROW_EVENTS_DRAIN_DELAY_MS later with what arrived meanwhile. Taking events as
    they trickle in instead made each batch a handful of events paying a whole batch's
    statements (bench.events: 1.8 ms of worker CPU an event, against 0.65 ms in full batches).
    After `seconds` the rest is left to a freshly queued drain, so a long backlog does not hold
    one worker process for ever."""
    with contextlib.suppress(Exception):  # first, so an event committed from now on asks again
        cache.delete(_DRAIN_FLAG)
    deadline = time.monotonic() + seconds
    total = 0
    while True:
        claimed, woken = _claim_batch(batch_size)
        total += claimed
        if claimed < batch_size and not woken:
            return total
        if time.monotonic() > deadline:
            _schedule_drain()
            return total


class _Batch:
    """Events of one claimed batch being processed in order, with what they share looked up once.

    `invoice.paid` of a customer whose referral is known takes the fast path: decided from the
    prefetched referral and commissions, without a statement, and written with the batch's other
    commissions (one INSERT of commissions, one of ledger rows, one of webhook messages) at the
    next flush. Every other event is applied by `_apply` in its own savepoint after a flush, so it
    sees everything before it in the batch, exactly as if the events had been processed one by
    one; its customer is then looked up again by the general path for the rest of the batch.
    """

    def __init__(self, events: list[PaymentEvent]) -> None:
        self.now = timezone.now()
        self.results: dict[UUID, str] = {}
        self.processed: dict[str, list[PaymentEvent]] = {}  # outcome -> events
        self.order: dict[UUID, int] = {e.id: n for n, e in enumerate(events)}
        self.last_processed: dict[tuple[UUID, str], int] = {}  # customer -> batch position
        self.waited: list[PaymentEvent] = []
        self.planned: list[tuple[PaymentEvent, Commission, LedgerEntry, dict]] = []
        self.stale: set[tuple[UUID, str]] = set()
        keys = {(e.app_id, e.customer_id) for e in events if e.type == "invoice.paid"}
        self.referrals = tracking_api.get_referrals(keys=list(keys)) if keys else {}
        self.invoices: dict[UUID, dict[str, datetime]] = {}  # referral -> invoice -> paid_at
        if self.referrals:
            for referral_id, invoice_id, paid_at in Commission.objects.filter(
                referral_id__in=[r.id for r in self.referrals.values()]
            ).values_list("referral_id", "invoice_id", "paid_at"):
                self.invoices.setdefault(referral_id, {})[invoice_id] = paid_at

    # --- the fast path of invoice.paid ----------------------------------------------------
    def plan(self, event: PaymentEvent) -> bool:
        """Decide an invoice.paid from what is prefetched; False when the general path must."""
        key = (event.app_id, event.customer_id)
        referral = self.referrals.get(key)
        if referral is None or key in self.stale:
            return False
        data = event.payload
        if data.get("coupon") or data.get("ref"):  # attribute_customer's input checks
            texts = (data.get("coupon"), data.get("ref"), data.get("customer_email"))
            if any(not isinstance(t, str | None) or "\x00" in (t or "") for t in texts):
                return False
            if len(data.get("customer_email") or "") > 320:
                return False
        try:
            outcome = self._decide(event, referral)
        except Exception:  # a bad payload: the general path fails it the usual way
            return False
        if outcome is not None:
            self.done(event, outcome)
        return True

    def _decide(self, event: PaymentEvent, referral: Any) -> str | None:
        """_apply_invoice_paid without statements: an outcome, or None when a commission is
        planned (written at the next flush)."""
        refused = _invoice_earns_nothing(event, referral)
        if refused:
            return refused
        amount = int(event.payload["amount"])
        terms = referral.terms
        known = self.invoices.setdefault(referral.id, {})
        first_paid = min(
            (paid_at for invoice_id, paid_at in known.items() if invoice_id != event.invoice_id),
            default=None,
        )
        if _beyond_recurring_terms(terms, first_paid, event.occurred_at):
            return "recurring_limit"
        if event.invoice_id in known:
            return "duplicate_invoice"
        commission, entry, message = _new_commission(event, referral, amount, self.now)
        known[event.invoice_id] = event.occurred_at
        self.planned.append((event, commission, entry, message))
        return None

    def flush(self) -> None:
        """Write the planned commissions, their ledger rows and webhook messages at once."""
        if not self.planned:
            return
        planned = sorted(self.planned, key=lambda p: (str(p[1].app_id), p[1].invoice_id))
        self.planned = []  # same lock order in every batch: no deadlock between drains
        try:
            with transaction.atomic():
                # An invoice another event (or a concurrent drain) paid meanwhile is skipped by
                # the unique (app_id, invoice_id) constraint; the rows that went in say which.
                Commission.objects.bulk_create([p[1] for p in planned], ignore_conflicts=True)
                inserted = set(
                    Commission.objects.filter(id__in=[p[1].id for p in planned]).values_list(
                        "id", flat=True
                    )
                )
                LedgerEntry.objects.bulk_create([p[2] for p in planned if p[1].id in inserted])
                written = [p for p in planned if p[1].id in inserted]
                names = _app_names({p[1].app_id for p in written})
                notifications_api.notify_many(
                    [
                        _commission_earned_note(
                            p[1],
                            self.referrals[(p[0].app_id, p[0].customer_id)],
                            names[p[1].app_id],
                        )
                        for p in written
                    ]
                )
                webhooks_out_api.emit_many(
                    type="commission.created",
                    events=[(p[1].app_id, p[3]) for p in planned if p[1].id in inserted],
                )
        except Exception:
            logger.exception("writing %d commissions at once failed; one by one", len(planned))
            for event, *_ in sorted(planned, key=lambda p: self.order[p[0].id]):
                self.stale.add((event.app_id, event.customer_id))
                self.apply_one(event)
            return
        skipped = [p for p in planned if p[1].id not in inserted]
        # Skipped as a duplicate only when its invoice really has a commission: SQLite's
        # INSERT OR IGNORE also skips rows a CHECK constraint refuses.
        paid = set(
            Commission.objects.filter(
                app_id__in={p[1].app_id for p in skipped},
                invoice_id__in={p[1].invoice_id for p in skipped},
            ).values_list("app_id", "invoice_id")
            if skipped
            else ()
        )
        for event, commission, *_ in planned:
            if commission.id in inserted:
                self.done(event, "commission_created")
            elif (commission.app_id, commission.invoice_id) in paid:
                self.stale.add((event.app_id, event.customer_id))
                self.done(event, "duplicate_invoice")
            else:
                self.apply_one(event)  # the general path: refused again, the event fails

    # --- the general path and the bookkeeping ---------------------------------------------
    def apply_one(self, event: PaymentEvent) -> None:
        self.flush()
        self.stale.add((event.app_id, event.customer_id))
        try:
            with transaction.atomic():
                outcome = _apply(event)
        except _Wait as wait:
            self.unsuccessful(event, PaymentEvent.Status.WAITING, str(wait), wait)
        except Exception as exc:
            logger.exception("payment event %s failed", event.id)
            self.unsuccessful(event, PaymentEvent.Status.FAILED, f"{type(exc).__name__}: {exc}")
        else:
            self.done(event, outcome)

    def done(self, event: PaymentEvent, outcome: str) -> None:
        self.processed.setdefault(outcome, []).append(event)
        self.results[event.id] = PaymentEvent.Status.PROCESSED
        key = (event.app_id, event.customer_id)
        self.last_processed[key] = max(self.last_processed.get(key, -1), self.order[event.id])

    def unsuccessful(
        self, event: PaymentEvent, status: str, reason: str, wait: _Wait | None = None
    ) -> None:
        _record_unsuccessful(event, status, reason, wait)
        self.results[event.id] = event.status
        if event.status == PaymentEvent.Status.WAITING:
            self.waited.append(event)

    def save(self) -> None:
        """One UPDATE per outcome for the processed events."""
        for outcome, events in self.processed.items():
            PaymentEvent.objects.filter(id__in=[e.id for e in events]).update(
                status=PaymentEvent.Status.PROCESSED,
                outcome=outcome,
                attempts=F("attempts") + 1,
                last_error="",
                next_attempt_at=None,
                processed_at=self.now,
                updated_at=self.now,
            )

    def wake(self) -> int:
        """Waiting events of the customers whose events were processed get another try now
        (those that gave up waiting are reopened once the customer is attributed or an invoice
        earned); returns how many were woken."""
        if not self.last_processed:
            return 0
        now = timezone.now()
        earned = {
            (e.app_id, e.customer_id)
            for outcome in ("attributed", "commission_created")
            for e in self.processed.get(outcome, [])
        }
        processed_ids = [e.id for events in self.processed.values() for e in events]
        if earned:
            PaymentEvent.objects.filter(
                _customers_q(earned), status=PaymentEvent.Status.PROCESSED, outcome=GAVE_UP
            ).exclude(id__in=processed_ids).update(
                status=PaymentEvent.Status.WAITING,
                outcome="",
                processed_at=None,
                next_attempt_at=now,
                updated_at=now,
            )
        # A batch event that waited after the last processed event of its customer saw
        # everything that could unblock it: it keeps its backoff.
        settled = [
            e.id
            for e in self.waited
            if self.order[e.id] > self.last_processed.get((e.app_id, e.customer_id), -1)
        ]
        return (
            PaymentEvent.objects.filter(
                _customers_q(set(self.last_processed)), status=PaymentEvent.Status.WAITING
            )
            .exclude(id__in=settled)
            .update(next_attempt_at=now, updated_at=now)
        )


def _customers_q(keys: set[tuple[UUID, str]]) -> Q:
    q = Q()
    for app_id, customer_id in sorted(keys, key=lambda k: (str(k[0]), k[1])):
        q |= Q(app_id=app_id, customer_id=customer_id)
    return q


def _process_locked(events: list[PaymentEvent], *, in_drain: bool) -> tuple[dict[UUID, str], int]:
    """Process events whose rows this transaction holds; returns each one's new status and how
    many waiting events were made due again."""
    events = [e for e in events if e.status != PaymentEvent.Status.PROCESSED]
    if not events:
        return {}, 0
    batch = _Batch(events)
    for event in events:
        if event.type == "invoice.paid" and batch.plan(event):
            continue
        batch.apply_one(event)
    batch.flush()
    batch.save()
    woken = batch.wake()
    if woken and not in_drain:  # a drain's next batch takes them
        transaction.on_commit(_schedule_drain)
    return batch.results, woken


def _record_unsuccessful(event: PaymentEvent, status: str, reason: str, wait: _Wait | None) -> None:
    """The locked event waited or failed: count the attempt, set its backoff (or give up)."""
    event.attempts += 1
    event.last_error = reason[:2000]
    limit = MAX_WAIT_ATTEMPTS if wait is not None else MAX_FAILED_ATTEMPTS
    if wait is not None and wait.give_up_outcome and event.attempts >= limit:
        event.status = PaymentEvent.Status.PROCESSED
        event.outcome = wait.give_up_outcome
        event.next_attempt_at = None
        event.processed_at = timezone.now()
    else:
        event.status = status
        event.next_attempt_at = (
            timezone.now() + event_backoff(event.attempts)
            if event.attempts < limit or wait is not None
            else None
        )
    event.save()


def _apply(event: PaymentEvent) -> str:
    if event.type in SIGNUP_TYPES:
        referral = _attribute(event)
        return "attributed" if referral is not None else "not_attributed"
    if event.type == "invoice.paid":
        return _apply_invoice_paid(event)
    if event.type == "invoice.refunded":
        return _apply_refund(event)
    if event.type == "subscription.cancelled":
        return _apply_cancellation(event)
    raise ValueError(f"unknown event type {event.type!r}")


def _attribute(event: PaymentEvent) -> Any:
    data = event.payload
    return tracking_api.attribute_customer(
        app_id=event.app_id,
        customer_id=event.customer_id,
        email=data.get("customer_email") or None,
        coupon=data.get("coupon") or None,
        ref=data.get("ref") or None,
        occurred_at=event.occurred_at,
    )


def _signup_seen(event: PaymentEvent) -> bool:
    """A signup of this customer was processed, so an absent referral means "not referred"."""
    return PaymentEvent.objects.filter(
        app_id=event.app_id,
        customer_id=event.customer_id,
        type__in=SIGNUP_TYPES,
        status=PaymentEvent.Status.PROCESSED,
    ).exists()


def _referral_for(event: PaymentEvent) -> Any:
    data = event.payload
    if data.get("coupon") or data.get("ref"):
        return _attribute(event)
    return tracking_api.get_referral(app_id=event.app_id, customer_id=event.customer_id)


def months_between(start: datetime, end: datetime) -> int:
    """Whole calendar months from start to end (by date; month-end billing counts as whole)."""
    months = (end.year - start.year) * 12 + (end.month - start.month)
    last_day = calendar.monthrange(end.year, end.month)[1]
    if end.day < start.day and end.day != last_day:
        months -= 1
    return months


def _invoice_earns_nothing(event: PaymentEvent, referral: Any) -> str | None:
    """The outcome of a paid invoice that earns nothing whatever came before it, else None: a
    self-referral, an invoice at or after the cancellation, a $0 (trial) invoice."""
    if referral.self_referral:
        return "self_referral"
    if referral.cancelled_at is not None and event.occurred_at >= referral.cancelled_at:
        return "after_cancellation"
    if int(event.payload["amount"]) <= 0:
        return "zero_amount"
    return None


def _beyond_recurring_terms(terms: Any, first_paid: datetime | None, paid_at: datetime) -> bool:
    """An invoice after the referral's first paid one earns nothing on a one-time campaign, nor
    once `recurring_months` whole months have passed since the first payment."""
    if first_paid is None:
        return False
    if not terms.recurring:
        return True
    start = min(first_paid, paid_at)
    return (
        terms.recurring_months is not None
        and months_between(start, paid_at) >= terms.recurring_months
    )


def _apply_invoice_paid(event: PaymentEvent) -> str:
    data = event.payload
    referral = _referral_for(event)
    if referral is None:
        if _signup_seen(event):
            return "not_referred"
        raise _Wait(f"no referral yet for customer {event.customer_id}", give_up_outcome=GAVE_UP)
    refused = _invoice_earns_nothing(event, referral)
    if refused:
        return refused
    amount = int(data["amount"])
    terms = referral.terms
    first_paid = (
        Commission.objects.filter(referral_id=referral.id)
        .exclude(invoice_id=event.invoice_id)
        .order_by("paid_at")
        .values_list("paid_at", flat=True)
        .first()
    )
    if _beyond_recurring_terms(terms, first_paid, event.occurred_at):
        return "recurring_limit"
    commission, entry, message = _new_commission(event, referral, amount, timezone.now())
    try:
        with transaction.atomic():
            commission.save(force_insert=True)
    except IntegrityError:
        paid = Commission.objects.filter(app_id=commission.app_id, invoice_id=commission.invoice_id)
        if paid.exists():
            return "duplicate_invoice"  # another event (or source) already paid this invoice
        raise  # any other constraint: the event fails and is retried, never marked processed
    entry.save(force_insert=True)
    names = _app_names({commission.app_id})
    note = _commission_earned_note(commission, referral, names[commission.app_id])
    notifications_api.notify_many([note])
    webhooks_out_api.emit(app_id=commission.app_id, type="commission.created", data=message)
    return "commission_created"


def _new_commission(
    event: PaymentEvent, referral: Any, amount: int, now: datetime
) -> tuple[Commission, LedgerEntry, dict]:
    """The (unsaved) commission of a paid invoice, its ledger row and its webhook data."""
    data = event.payload
    terms = referral.terms
    available_at = event.occurred_at + timedelta(days=terms.hold_days)
    matured = available_at <= now
    commission = Commission(
        app_id=event.app_id,
        invoice_id=event.invoice_id,
        referral_id=referral.id,
        enrollment_id=referral.enrollment_id,
        affiliate_id=referral.affiliate_id,
        campaign_id=referral.campaign_id,
        customer_id=event.customer_id,
        subscription_id=data.get("subscription_id") or "",
        payment_ref=data.get("payment_ref") or "",
        currency=data["currency"],
        invoice_amount=amount,
        rate_bps=terms.commission_bps,
        amount=apply_rate(amount, terms.commission_bps),
        paid_at=event.occurred_at,
        available_at=available_at,
        status=Commission.Status.PAYABLE if matured else Commission.Status.PENDING,
        matured_at=now if matured else None,
        event=event,
    )
    entry = LedgerEntry(
        affiliate_id=commission.affiliate_id,
        kind=LedgerEntry.Kind.COMMISSION,
        amount=commission.amount,
        currency=commission.currency,
        commission=commission,
        basis_amount=amount,
        event=event,
        note=f"{terms.commission_bps / 100:g} % of invoice {event.invoice_id}",
    )
    message = {
        "commission_id": str(commission.id),
        "referral_id": str(commission.referral_id),
        "affiliate_id": str(commission.affiliate_id),
        "customer_id": commission.customer_id,
        "invoice_id": commission.invoice_id,
        "invoice_amount": commission.invoice_amount,
        "rate_bps": commission.rate_bps,
        "amount": commission.amount,
        "currency": commission.currency,
        "status": commission.status,
        "available_at": commission.available_at.isoformat(),
    }
    return commission, entry, message


_REVERSAL_KINDS = (LedgerEntry.Kind.REFUND_REVERSAL, LedgerEntry.Kind.CLAWBACK)


def _reversed_so_far(commission: Commission) -> tuple[int, int]:
    """(customer money refunded, commission taken back) by the commission's reversal rows, both
    ≥ 0, read from the ledger."""
    prior = commission.entries.filter(kind__in=_REVERSAL_KINDS).aggregate(
        basis=Sum("basis_amount"), amount=Sum("amount")
    )
    return prior["basis"] or 0, -(prior["amount"] or 0)


def _apply_refund(event: PaymentEvent) -> str:
    data = event.payload
    commission = (
        Commission.objects.select_for_update()
        .filter(app_id=event.app_id, invoice_id=event.invoice_id)
        .first()
    )
    if commission is None and data.get("payment_ref"):
        commission = (
            Commission.objects.select_for_update()
            .filter(app_id=event.app_id, payment_ref=data["payment_ref"])
            .first()
        )
    if commission is None:
        invoice_settled = PaymentEvent.objects.filter(
            app_id=event.app_id,
            invoice_id=event.invoice_id,
            type="invoice.paid",
            status=PaymentEvent.Status.PROCESSED,
        ).exists()
        if invoice_settled:
            return "no_commission"
        if _signup_seen(event) and (
            tracking_api.get_referral(app_id=event.app_id, customer_id=event.customer_id) is None
        ):
            return "not_referred"
        raise _Wait(f"invoice {event.invoice_id} has not been paid yet", give_up_outcome=GAVE_UP)
    if data.get("currency") and data["currency"] != commission.currency:
        raise ValueError(
            f"refund in {data['currency']} for invoice {commission.invoice_id} paid in "
            f"{commission.currency}"
        )
    refunded_before, reversed_before = _reversed_so_far(commission)
    if data.get("refunded_total") is not None:  # Stripe reports the cumulative refund
        refunded_after = max(refunded_before, int(data["refunded_total"]))
    else:
        refunded_after = refunded_before + int(data["amount"])
    refunded_after = min(refunded_after, commission.invoice_amount)
    if refunded_after <= refunded_before:
        return "refund_nothing_left"
    reversed_after = apply_rate(refunded_after, commission.rate_bps)
    kind = (
        LedgerEntry.Kind.REFUND_REVERSAL
        if commission.status == Commission.Status.PENDING
        else LedgerEntry.Kind.CLAWBACK
    )
    LedgerEntry.objects.create(
        affiliate_id=commission.affiliate_id,
        kind=kind,
        amount=-(reversed_after - reversed_before),
        currency=commission.currency,
        commission=commission,
        basis_amount=refunded_after - refunded_before,
        event=event,
        note=f"refund of {refunded_after - refunded_before} on invoice {commission.invoice_id}",
    )
    _add_reversed(commission.id, reversed_after - reversed_before)
    return "refund_reversed" if kind == LedgerEntry.Kind.REFUND_REVERSAL else "clawback"


def _add_reversed(commission_id: UUID, amount: int) -> None:
    """Keep the commission's reversed_amount equal to what its refund reversal and clawback
    rows took back: called in the transaction that writes such a row."""
    Commission.objects.filter(pk=commission_id).update(
        reversed_amount=F("reversed_amount") + amount
    )


def void_commission(*, commission_id: UUID | str, reason: str) -> int:
    """Staff correction: reverse what is left of a commission with one new ledger row (a refund
    reversal while pending, a clawback once payable or paid). Returns the amount reversed
    (0 when nothing is left, so a repeat changes nothing). Later refunds find nothing left."""
    reason = (reason or "").replace("\x00", "").strip()[:200] or "voided by staff"
    with transaction.atomic():
        commission = Commission.objects.select_for_update().filter(pk=commission_id).first()
        if commission is None:
            raise ValueError("no such commission")
        refunded, taken = _reversed_so_far(commission)
        basis_left = commission.invoice_amount - refunded
        amount_left = commission.amount - taken
        if basis_left <= 0 and amount_left <= 0:
            return 0
        LedgerEntry.objects.create(
            affiliate_id=commission.affiliate_id,
            kind=(
                LedgerEntry.Kind.REFUND_REVERSAL
                if commission.status == Commission.Status.PENDING
                else LedgerEntry.Kind.CLAWBACK
            ),
            amount=-amount_left,
            currency=commission.currency,
            commission=commission,
            basis_amount=max(basis_left, 0),
            reference=f"void:{commission.id}",
            note=reason,
        )
        _add_reversed(commission.id, amount_left)
        return amount_left


def _apply_cancellation(event: PaymentEvent) -> str:
    referral = tracking_api.get_referral(app_id=event.app_id, customer_id=event.customer_id)
    if referral is None:
        if _signup_seen(event):
            return "not_referred"
        raise _Wait(f"no referral yet for customer {event.customer_id}", give_up_outcome=GAVE_UP)
    referral, cancelled_now = tracking_api.cancel_referral(
        referral_id=referral.id, cancelled_at=event.occurred_at
    )
    if not cancelled_now:
        return "already_cancelled"
    _notify_cancellation(referral)
    return "referral_cancelled"


def _commission_earned_note(
    commission: Commission, referral: Any, app_name: str
) -> notifications_api.NewNotification:
    """The affiliate's in-app "you earned" note (emailed only if they asked for it)."""
    customer = referral.customer_email_masked or commission.customer_id
    amount = Money(commission.amount, commission.currency).format()
    invoice = Money(commission.invoice_amount, commission.currency).format()
    available = commission.available_at.date().isoformat()
    return notifications_api.NewNotification(
        user_id=commission.affiliate_id,
        kind="commission.earned",
        title=f"You earned {amount} from {app_name}",
        body=(
            f"{customer} paid a {invoice} invoice for {app_name}: your commission is {amount}, "
            f"payable from {available}."
        ),
        data={
            "commission_id": str(commission.id),
            "app": app_name,
            "customer": customer,
            "amount": commission.amount,
            "currency": commission.currency,
            "available_at": commission.available_at.isoformat(),
        },
        dedupe_key=f"commission.earned:{commission.id}",
    )


def _app_names(app_ids: set[UUID]) -> dict[UUID, str]:
    names = {}
    for app_id in app_ids:
        app = programs_api.get_app(app_id=app_id)
        names[app_id] = app.name if app else "an app"
    return names


def monthly_commission_lost(*, referral_id: UUID) -> tuple[int, str | None]:
    """The last paid invoice's commission of a referral (0 and no currency when none)."""
    last = (
        Commission.objects.filter(referral_id=referral_id)
        .order_by("-paid_at")
        .values_list("amount", "currency")
        .first()
    )
    return (last[0], last[1]) if last else (0, None)


def _notify_cancellation(referral: Any) -> None:
    app = programs_api.get_app(app_id=referral.app_id)
    enrollment = programs_api.get_enrollment(enrollment_id=referral.enrollment_id)
    app_name = app.name if app else "an app"
    campaign_name = enrollment.campaign_name if enrollment else ""
    lost, currency = monthly_commission_lost(referral_id=referral.id)
    currency = currency or (app.currency if app else "USD")
    customer = referral.customer_email_masked or referral.customer_id
    lost_text = Money(lost, currency).format()
    notifications_api.notify(
        user_id=referral.affiliate_id,
        kind="referral.cancelled",
        title=f"{customer} cancelled {app_name}",
        body=(
            f"{customer}, a customer you referred to {app_name} (campaign {campaign_name}), "
            f"cancelled their subscription. Monthly commission lost: {lost_text}."
        ),
        data={
            "referral_id": str(referral.id),
            "app": app_name,
            "campaign": campaign_name,
            "customer": customer,
            "monthly_commission_lost": lost,
            "currency": currency,
        },
        dedupe_key=f"referral.cancelled:{referral.id}",
    )


def process_due_events(*, limit: int = DRAIN_BATCH) -> int:
    """Received events, and waiting and failed ones whose next attempt is due: a drain (the
    scheduled safety net behind the drains queued on commit). Returns how many were claimed."""
    return drain_events(batch_size=limit)


def retry_event(*, event_id: UUID | str) -> str:
    """Admin action: process an unprocessed event now, whatever its backoff says."""
    PaymentEvent.objects.filter(pk=event_id).exclude(status=PaymentEvent.Status.PROCESSED).update(
        next_attempt_at=timezone.now()
    )
    return process_event(event_id=event_id)


# --- maturity and balances ------------------------------------------------------------------


def mature_commissions(*, now: datetime | None = None) -> int:
    """Make pending commissions whose hold period is over payable; returns how many."""
    now = now or timezone.now()
    return Commission.objects.filter(
        status=Commission.Status.PENDING, available_at__lte=now
    ).update(status=Commission.Status.PAYABLE, matured_at=now, updated_at=now)


def get_balances(*, affiliate_id: UUID) -> list[Balance]:
    """Per currency, in minor units, all sums of ledger rows:

    - pending: rows of commissions still in their hold period;
    - payable: due rows (commissions past the hold, their refunds and clawbacks, adjustments)
      not yet in a payout PayPal settled, i.e. including money in flight (`in_payout`);
    - paid: payouts PayPal settled (payout_sent minus payout_sent_reversal rows);
    - in_payout: claimed into a payout item that has not settled yet;
    - available: payable minus in_payout, what the next payout run would claim.
    """
    pending_q = Q(commission__status=Commission.Status.PENDING)
    rows = (
        LedgerEntry.objects.filter(affiliate_id=affiliate_id)
        .values("currency")
        .annotate(
            pending=Sum("amount", filter=pending_q),
            due=Sum("amount", filter=_due_q() & Q(kind__in=CLAIMABLE_KINDS)),
            moved=Sum("amount", filter=Q(kind__in=_PAYOUT_MOVE_KINDS)),
            sent=Sum("amount", filter=Q(kind__in=_PAYOUT_SENT_KINDS)),
        )
        .order_by("currency")
    )
    balances = []
    for row in rows:
        due, moved, sent = row["due"] or 0, row["moved"] or 0, row["sent"] or 0
        balances.append(
            Balance(
                currency=row["currency"],
                pending=row["pending"] or 0,
                payable=due - sent,
                paid=sent,
                in_payout=-moved - sent,
                available=due + moved,
            )
        )
    return balances


def list_commissions(*, affiliate_id: UUID, limit: int = 200) -> list[CommissionView]:
    """The affiliate's commissions, newest first, with what refunds left of each."""
    rows = (
        Commission.objects.filter(affiliate_id=affiliate_id)
        .annotate(net=Sum("entries__amount"))
        .order_by("-paid_at")[:limit]
    )
    return [
        CommissionView(
            id=c.id,
            app_id=c.app_id,
            campaign_id=c.campaign_id,
            referral_id=c.referral_id,
            invoice_id=c.invoice_id,
            currency=c.currency,
            invoice_amount=c.invoice_amount,
            rate_bps=c.rate_bps,
            amount=c.amount,
            net_amount=c.net or 0,
            status=c.status,
            paid_at=c.paid_at,
            available_at=c.available_at,
        )
        for c in rows
    ]


def sum_ledger(*, referral_id: UUID) -> int:
    """Sum of every ledger row of a referral's commissions (for reconciliation)."""
    total = LedgerEntry.objects.filter(commission__referral_id=referral_id).aggregate(
        total=Sum("amount")
    )["total"]
    return total or 0


def get_event_status(*, event_id: UUID) -> str:
    """The processing status of a stored event ("missing" when there is none)."""
    status = PaymentEvent.objects.filter(pk=event_id).values_list("status", flat=True).first()
    return status or "missing"


# --- aggregate reads (the reports context) --------------------------------------------------


@dataclass(frozen=True)
class CommissionDayTotal:
    """Commissions of one campaign paid on one UTC day, in one currency and status."""

    campaign_id: UUID
    day: date
    currency: str
    status: str
    count: int
    amount: int  # commission, before refunds (minor units)
    invoice_amount: int  # customer money the commissions were computed from
    net_amount: int  # amount after refund reversals and clawbacks (amount − reversed_amount)


@dataclass(frozen=True)
class ReferralEarnings:
    """What one referral has earned, per currency, and when its first invoice was paid."""

    referral_id: UUID
    first_paid_at: datetime | None
    net_by_currency: dict[str, int]


def _commissions_in(
    affiliate_id: UUID, since: datetime, until: datetime, campaign_id: UUID | None
) -> Any:
    qs = Commission.objects.filter(affiliate_id=affiliate_id, paid_at__gte=since, paid_at__lt=until)
    return qs.filter(campaign_id=campaign_id) if campaign_id is not None else qs


def summarize_commissions_by_day(
    *, affiliate_id: UUID, since: datetime, until: datetime, campaign_id: UUID | None = None
) -> list[CommissionDayTotal]:
    """Commissions paid in [since, until) per campaign, UTC day, currency and status, before and
    after refunds: one GROUP BY query over the commissions alone, index-only (the net is
    amount − reversed_amount, which the ledger keeps with every refund reversal and clawback
    row; `manage.py reconcile_commission_nets` checks and repairs it)."""
    rows = (
        _commissions_in(affiliate_id, since, until, campaign_id)
        .annotate(day=TruncDate("paid_at", tzinfo=UTC))
        .values("campaign_id", "day", "currency", "status")
        .annotate(
            n=Count("id"),
            total=Sum("amount"),
            basis=Sum("invoice_amount"),
            net=Sum(F("amount") - F("reversed_amount")),
        )
        .order_by("day", "campaign_id", "currency", "status")
    )
    return [
        CommissionDayTotal(
            campaign_id=r["campaign_id"],
            day=r["day"],
            currency=r["currency"],
            status=r["status"],
            count=r["n"],
            amount=r["total"] or 0,
            invoice_amount=r["basis"] or 0,
            net_amount=r["net"] or 0,
        )
        for r in rows
    ]


def reconcile_commission_nets(*, affiliate_id: UUID | None = None) -> list[UUID]:
    """Commissions whose reversed_amount differs from what their refund reversal and clawback
    rows took back (none, unless a write bypassed the ledger api): their ids."""
    reversed_rows = Sum(
        "entries__amount",
        filter=Q(entries__kind__in=_REVERSAL_KINDS),
        default=0,
    )
    qs = Commission.objects.all()
    if affiliate_id is not None:
        qs = qs.filter(affiliate_id=affiliate_id)
    return list(
        qs.annotate(taken=-reversed_rows)
        .exclude(reversed_amount=F("taken"))
        .order_by("id")
        .values_list("id", flat=True)
    )


def repair_commission_nets() -> list[UUID]:
    """Set reversed_amount from the ledger rows wherever it differs (after a rollout during which
    the previous release wrote refunds without it; idempotent). The mismatches are found first
    (a full read, ~10 s at 5 M commissions), then fixed under event processing's lock and with
    those commissions locked (refunds are applied under that lock, staff voids lock the
    commission), so no refund lands between the recount and the write. Returns their ids."""
    ids = reconcile_commission_nets()
    if not ids:
        return []
    with transaction.atomic():
        _serialise_applying()
        for chunk in param_chunks(ids):
            locked = Commission.objects.select_for_update().filter(id__in=chunk)
            list(locked.values_list("id", flat=True))
            taken = dict(
                LedgerEntry.objects.filter(commission_id__in=chunk, kind__in=_REVERSAL_KINDS)
                .values("commission_id")
                .annotate(total=Sum("amount"))
                .values_list("commission_id", "total")
            )
            for commission_id in chunk:
                Commission.objects.filter(pk=commission_id).update(
                    reversed_amount=-(taken.get(commission_id) or 0)
                )
    return ids


def count_paying_customers(
    *, affiliate_id: UUID, since: datetime, until: datetime, campaign_id: UUID | None = None
) -> dict[UUID, int]:
    """Per campaign: referred customers with at least one paid invoice in [since, until)
    (distinct referrals; one GROUP BY query)."""
    rows = (
        _commissions_in(affiliate_id, since, until, campaign_id)
        .values("campaign_id")
        .annotate(n=Count("referral_id", distinct=True))
        .order_by("campaign_id")
    )
    return {r["campaign_id"]: r["n"] for r in rows}


def summarize_referral_earnings(
    *, affiliate_id: UUID, referral_ids: list[UUID]
) -> dict[UUID, ReferralEarnings]:
    """For each of the affiliate's referrals: net commission per currency (refunds applied) and
    the first paid invoice's time. One GROUP BY query, whatever the number of referrals."""
    if not referral_ids:
        return {}
    rows = (
        LedgerEntry.objects.filter(
            affiliate_id=affiliate_id, commission__referral_id__in=list(referral_ids)
        )
        .values("commission__referral_id", "currency")
        .annotate(net=Sum("amount"), first=Min("commission__paid_at"))
        .order_by("commission__referral_id", "currency")
    )
    nets: dict[UUID, dict[str, int]] = {}
    firsts: dict[UUID, datetime] = {}
    for r in rows:
        rid, first = r["commission__referral_id"], r["first"]
        nets.setdefault(rid, {})[r["currency"]] = r["net"] or 0
        if first is not None and (rid not in firsts or first < firsts[rid]):
            firsts[rid] = first
    return {rid: ReferralEarnings(rid, firsts.get(rid), net) for rid, net in nets.items()}


def iter_commissions(*, affiliate_id: UUID, chunk_size: int = 500) -> Iterator[CommissionView]:
    """Every commission of the affiliate, newest first, with its net amount (one cursor; for
    streaming exports)."""
    rows = (
        Commission.objects.filter(affiliate_id=affiliate_id)
        .annotate(net=Sum("entries__amount"))
        .order_by("-paid_at", "-id")
    )
    for c in rows.iterator(chunk_size=chunk_size):
        yield CommissionView(
            id=c.id,
            app_id=c.app_id,
            campaign_id=c.campaign_id,
            referral_id=c.referral_id,
            invoice_id=c.invoice_id,
            currency=c.currency,
            invoice_amount=c.invoice_amount,
            rate_bps=c.rate_bps,
            amount=c.amount,
            net_amount=c.net or 0,
            status=c.status,
            paid_at=c.paid_at,
            available_at=c.available_at,
        )


# --- payouts: claiming due rows into a payout item, settling or releasing them ----------------
#
# A payout item (payouts context) claims an affiliate's due, unclaimed rows of one currency with
# a LedgerClaim each (the row itself is never updated), and records the claimed sum as one
# `payout` row (−). PayPal's SUCCESS adds `payout_sent` (+, counted as paid, outside the payable
# sum) and marks the claimed commissions paid; money that comes back adds `payout_return` (+, and
# `payout_sent_reversal` (−) when it had been settled) and deletes the claims, freeing the rows
# for the next payout. One row of each payout kind per item (a unique constraint), so settling or
# releasing twice writes nothing.

CLAIMABLE_KINDS = (
    LedgerEntry.Kind.COMMISSION,
    LedgerEntry.Kind.REFUND_REVERSAL,
    LedgerEntry.Kind.CLAWBACK,
    LedgerEntry.Kind.ADJUSTMENT,
)
_PAYOUT_MOVE_KINDS = (LedgerEntry.Kind.PAYOUT, LedgerEntry.Kind.PAYOUT_RETURN)
_PAYOUT_SENT_KINDS = (LedgerEntry.Kind.PAYOUT_SENT, LedgerEntry.Kind.PAYOUT_SENT_REVERSAL)


def _due_q() -> Q:
    """Rows past the hold period: of payable or paid commissions, or of no commission."""
    return Q(commission__isnull=True) | Q(
        commission__status__in=[Commission.Status.PAYABLE, Commission.Status.PAID]
    )


@dataclass(frozen=True)
class AvailableTotal:
    affiliate_id: UUID
    currency: str
    amount: int  # minor units: the unclaimed due rows' sum


def list_available_totals(*, affiliate_ids: list[UUID] | None = None) -> list[AvailableTotal]:
    """Per affiliate and currency, what a payout would claim now (may be zero or negative)."""
    rows = LedgerEntry.objects.filter(kind__in=CLAIMABLE_KINDS, claim__isnull=True).filter(_due_q())
    if affiliate_ids is not None:
        rows = rows.filter(affiliate_id__in=list(affiliate_ids))
    grouped = (
        rows.values("affiliate_id", "currency")
        .annotate(total=Sum("amount"))
        .order_by("affiliate_id", "currency")
    )
    return [
        AvailableTotal(affiliate_id=r["affiliate_id"], currency=r["currency"], amount=r["total"])
        for r in grouped
    ]


def get_pending_until(*, affiliate_id: UUID) -> dict[str, datetime]:
    """Per currency, when the affiliate's earliest commission in its hold period matures."""
    rows = (
        Commission.objects.filter(affiliate_id=affiliate_id, status=Commission.Status.PENDING)
        .values("currency")
        .annotate(first=Min("available_at"))
        .order_by("currency")
    )
    return {r["currency"]: r["first"] for r in rows}


@dataclass(frozen=True)
class PayoutClaim:
    """One payout item to fill: the affiliate's due, unclaimed rows in `currency`."""

    affiliate_id: UUID
    currency: str
    payout_item_id: UUID


# One statement claims a set of (affiliate, currency, item) at once, on PostgreSQL and SQLite:
# `locked` takes the due rows of those pairs that no claim holds (on PostgreSQL FOR UPDATE SKIP
# LOCKED in id order: rows another claim is taking are skipped, not waited for); `totals` keeps
# the items whose locked rows reach the minimum; the INSERT gives each of their rows a claim.
# ON CONFLICT DO NOTHING leaves out a row whose claim another transaction committed after this
# statement's snapshot was taken: each item's sum is counted from the claims actually written,
# and an item that falls below the minimum that way gives its claims back before the commit.
# SQLite has no row locks and needs none: its writers are serialised, the statement atomic
# (it needs SQLite 3.35 or newer for MATERIALIZED; Python 3.11's is 3.40).
_CLAIM_CTES = """
WITH m (affiliate_id, currency, item_id) AS (VALUES {values}),
locked AS MATERIALIZED (
    SELECT e.id, e.amount, m.item_id
    FROM ledger_entries e
    JOIN m ON e.affiliate_id = m.affiliate_id AND e.currency = m.currency
    LEFT JOIN commissions c ON c.id = e.commission_id
    WHERE e.kind IN ({kinds})
      AND NOT EXISTS (SELECT 1 FROM ledger_claims k WHERE k.entry_id = e.id)
      AND (e.commission_id IS NULL OR c.status IN ({statuses}))
    ORDER BY e.id
    {lock}
),
totals AS MATERIALIZED (
    SELECT item_id FROM locked GROUP BY item_id HAVING SUM(amount) >= %s
)"""
# (WHERE true: SQLite needs a WHERE before ON CONFLICT to parse an INSERT … SELECT upsert.)
_CLAIM_INSERT = """
INSERT INTO ledger_claims (entry_id, payout_item_id)
SELECT locked.id, locked.item_id FROM locked JOIN totals ON totals.item_id = locked.item_id
WHERE true ORDER BY locked.id
ON CONFLICT (entry_id) DO NOTHING"""
# PostgreSQL also sums what the INSERT claimed, per item, in the same statement.
_CLAIM_SUMS = """,
claimed AS ({insert} RETURNING entry_id, payout_item_id)
SELECT claimed.payout_item_id, SUM(locked.amount)::bigint, COUNT(*)
FROM claimed JOIN locked ON locked.id = claimed.entry_id GROUP BY claimed.payout_item_id"""


def claim_payable_entries_bulk(*, claims: list[PayoutClaim], minimum: int) -> dict[UUID, int]:
    """Claim, for many payout items at once, each item's affiliate's due, unclaimed rows in its
    currency. Returns {payout_item_id: claimed sum} for the items that were filled.

    A constant number of statements whatever the number of claims (on SQLite, one per few
    hundred claims): one INSERT locks (FOR UPDATE SKIP LOCKED, id order) the unclaimed rows of
    every item and writes a LedgerClaim for each row of the items whose locked rows sum to at
    least `minimum`, and on PostgreSQL sums, per item, what it claimed (SQLite reads that back
    with one GROUP BY); one COPY (INSERT on SQLite) writes each filled item's `payout` row
    (−sum). Rows another transaction holds are skipped, not waited for. An item whose rows are
    below the minimum (after clawbacks) or taken by another run claims nothing and is absent
    from the result. The amounts are sums of the rows actually claimed, never of an earlier
    read. Call it inside the transaction that creates the payout items, holding each affiliate
    (payouts locks their PayPal account row): rows are skipped one by one, so two claims of one
    affiliate without that lock could each take part of the rows.
    """
    minimum = max(int(minimum), 1)
    claims = list(claims)
    if not claims:
        return {}
    if len({c.payout_item_id for c in claims}) != len(claims) or len(
        {(c.affiliate_id, c.currency) for c in claims}
    ) != len(claims):
        raise ValueError("each payout item and each (affiliate, currency) is claimed once")
    uuid_field = LedgerEntry._meta.get_field("affiliate_id")
    kinds = [str(k) for k in CLAIMABLE_KINDS]
    statuses = [str(Commission.Status.PAYABLE), str(Commission.Status.PAID)]
    postgres = connection.vendor == "postgresql"
    lock = "FOR UPDATE OF e SKIP LOCKED" if postgres else ""
    tail = _CLAIM_SUMS.format(insert=_CLAIM_INSERT) if postgres else _CLAIM_INSERT
    claimed: dict[UUID, tuple[int, int]] = {}  # item -> (sum, rows)
    with transaction.atomic():
        with connection.cursor() as cursor:
            for chunk in param_chunks(claims, params_each=3, spare=len(kinds) + len(statuses) + 1):
                sql = _CLAIM_CTES.format(
                    values=", ".join(["(%s, %s, %s)"] * len(chunk)),
                    kinds=", ".join(["%s"] * len(kinds)),
                    statuses=", ".join(["%s"] * len(statuses)),
                    lock=lock,
                )
                params: list[Any] = []
                for c in chunk:
                    params += [
                        uuid_field.get_db_prep_value(c.affiliate_id, connection),
                        c.currency,
                        uuid_field.get_db_prep_value(c.payout_item_id, connection),
                    ]
                cursor.execute(sql + tail, [*params, *kinds, *statuses, minimum])
                if postgres:
                    claimed.update((item, (total, n)) for item, total, n in cursor.fetchall())
        if not postgres:  # read back what each item got
            for ids in param_chunks([c.payout_item_id for c in claims]):
                rows = (
                    LedgerEntry.objects.filter(claim__payout_item_id__in=ids)
                    .values("claim__payout_item_id")
                    .annotate(total=Sum("amount"), n=Count("id"))
                    .order_by()
                )
                claimed.update((r["claim__payout_item_id"], (r["total"], r["n"])) for r in rows)
        short = [item for item, (total, _) in claimed.items() if total < minimum]
        if short:  # rows another claim committed meanwhile were left out: give the rest back
            for ids in param_chunks(short):
                LedgerClaim.objects.filter(payout_item_id__in=ids).delete()
            for item in short:
                del claimed[item]
        filled = [c for c in claims if c.payout_item_id in claimed]
        insert_rows(
            LedgerEntry,
            [
                LedgerEntry(
                    affiliate_id=c.affiliate_id,
                    kind=LedgerEntry.Kind.PAYOUT,
                    amount=-claimed[c.payout_item_id][0],
                    currency=c.currency,
                    payout_item_id=c.payout_item_id,
                    reference=str(c.payout_item_id),
                    note=f"payout of {claimed[c.payout_item_id][1]} ledger row(s) sent to PayPal",
                )
                for c in filled
            ],
        )
    return {c.payout_item_id: claimed[c.payout_item_id][0] for c in filled}


def claim_payable_entries(
    *, affiliate_id: UUID, currency: str, payout_item_id: UUID, minimum: int
) -> int:
    """Claim every due, unclaimed row of the affiliate in `currency` for a payout item.

    Rows are locked FOR UPDATE SKIP LOCKED in id order (rows another run holds are skipped) and
    claimed by a LedgerClaim each, written only for rows no claim holds. When the claimable sum
    is below `minimum` (or not positive), or another run holds or claimed the rows, nothing is
    claimed and 0 is returned. Otherwise writes the item's `payout` row (−sum) and returns the
    sum. Call it inside the transaction that creates the payout item.
    (claim_payable_entries_bulk for one.)
    """
    claim = PayoutClaim(affiliate_id=affiliate_id, currency=currency, payout_item_id=payout_item_id)
    return claim_payable_entries_bulk(claims=[claim], minimum=minimum).get(payout_item_id, 0)


def _payout_row(payout_item_id: UUID, kind: str) -> LedgerEntry | None:
    return LedgerEntry.objects.filter(payout_item_id=payout_item_id, kind=kind).first()


def settle_payout_item(*, payout_item_id: UUID, note: str = "") -> bool:
    """PayPal paid the item: `payout_sent` row, claimed commissions paid. False if done before."""
    payout = _payout_row(payout_item_id, LedgerEntry.Kind.PAYOUT)
    if payout is None:
        raise ValueError(f"payout item {payout_item_id} has no payout row")
    try:
        with transaction.atomic():
            LedgerEntry.objects.create(
                affiliate_id=payout.affiliate_id,
                kind=LedgerEntry.Kind.PAYOUT_SENT,
                amount=-payout.amount,
                currency=payout.currency,
                payout_item_id=payout_item_id,
                reference=str(payout_item_id),
                note=(note or "PayPal paid the payout")[:255],
            )
    except IntegrityError:
        return False
    Commission.objects.filter(
        entries__claim__payout_item_id=payout_item_id, entries__kind=LedgerEntry.Kind.COMMISSION
    ).exclude(status=Commission.Status.PAID).update(
        status=Commission.Status.PAID, updated_at=timezone.now()
    )
    _emit_payout_paid(payout, payout_item_id)
    return True


def _emit_payout_paid(payout: LedgerEntry, payout_item_id: UUID) -> None:
    """payout.paid to each app whose commissions the payout settled, with that app's part."""
    parts = (
        LedgerEntry.objects.filter(claim__payout_item_id=payout_item_id, commission__isnull=False)
        .values("commission__app_id")
        .annotate(total=Sum("amount"))
        .order_by("commission__app_id")
    )
    for part in parts:
        webhooks_out_api.emit(
            app_id=part["commission__app_id"],
            type="payout.paid",
            data={
                "payout_item_id": str(payout_item_id),
                "affiliate_id": str(payout.affiliate_id),
                "currency": payout.currency,
                "amount": part["total"],
            },
        )


def release_payout_item(*, payout_item_id: UUID, note: str = "") -> bool:
    """The item's money comes back to payable: `payout_return` (+) and, when it had been
    settled, `payout_sent_reversal` (−); its rows are free for the next payout and commissions it
    had paid are payable again. False (nothing written) when released before."""
    payout = _payout_row(payout_item_id, LedgerEntry.Kind.PAYOUT)
    if payout is None:
        raise ValueError(f"payout item {payout_item_id} has no payout row")
    note = (note or "payout came back")[:255]
    try:
        with transaction.atomic():
            LedgerEntry.objects.create(
                affiliate_id=payout.affiliate_id,
                kind=LedgerEntry.Kind.PAYOUT_RETURN,
                amount=-payout.amount,
                currency=payout.currency,
                payout_item_id=payout_item_id,
                reference=str(payout_item_id),
                note=note,
            )
    except IntegrityError:
        return False
    sent = _payout_row(payout_item_id, LedgerEntry.Kind.PAYOUT_SENT)
    if sent is not None:
        LedgerEntry.objects.create(
            affiliate_id=payout.affiliate_id,
            kind=LedgerEntry.Kind.PAYOUT_SENT_REVERSAL,
            amount=-sent.amount,
            currency=payout.currency,
            payout_item_id=payout_item_id,
            reference=str(payout_item_id),
            note=note,
        )
    commission_ids = list(
        LedgerEntry.objects.filter(
            claim__payout_item_id=payout_item_id, kind=LedgerEntry.Kind.COMMISSION
        ).values_list("commission_id", flat=True)
    )
    Commission.objects.filter(id__in=commission_ids, status=Commission.Status.PAID).update(
        status=Commission.Status.PAYABLE, updated_at=timezone.now()
    )
    LedgerClaim.objects.filter(payout_item_id=payout_item_id).delete()
    return True


def count_claimed_entries(*, payout_item_id: UUID) -> int:
    """How many due rows a payout item holds (0 once released)."""
    return LedgerClaim.objects.filter(payout_item_id=payout_item_id).count()


# --- staff reads (JSON API) -----------------------------------------------------------------


@dataclass(frozen=True)
class EventView:
    id: UUID
    source: str
    external_id: str
    app_id: UUID
    type: str
    customer_id: str
    invoice_id: str
    status: str
    outcome: str
    attempts: int
    last_error: str
    occurred_at: datetime
    created_at: datetime
    processed_at: datetime | None


def list_events(*, status: str | None = None, app_id: UUID | None = None) -> Any:
    """Stored money events, newest first, as a lazy sequence of EventView (for pagination)."""
    qs = PaymentEvent.objects.order_by("-created_at")
    if status:
        qs = qs.filter(status=status)
    if app_id is not None:
        qs = qs.filter(app_id=app_id)
    return _EventViews(qs)


class _EventViews:
    """Slicing runs one LIMIT/OFFSET query; len() one COUNT."""

    def __init__(self, qs: Any) -> None:
        self._qs = qs

    def __len__(self) -> int:
        return self._qs.count()

    def count(self) -> int:
        return self._qs.count()

    def __getitem__(self, item: slice) -> list[EventView]:
        return [
            EventView(
                id=e.id,
                source=e.source,
                external_id=e.external_id,
                app_id=e.app_id,
                type=e.type,
                customer_id=e.customer_id,
                invoice_id=e.invoice_id,
                status=e.status,
                outcome=e.outcome,
                attempts=e.attempts,
                last_error=e.last_error,
                occurred_at=e.occurred_at,
                created_at=e.created_at,
                processed_at=e.processed_at,
            )
            for e in self._qs[item]
        ]


def get_event(*, event_id: UUID) -> bool:
    """Whether a stored money event with this id exists."""
    return PaymentEvent.objects.filter(pk=event_id).exists()
