"""The webhooks_out context's public API: endpoints, emitting events, delivering them.

`emit` writes the outbox (one Message, one Delivery per subscribed active endpoint) inside the
caller's transaction, and queues the deliveries on commit: an event exists exactly when the
change that caused it was committed. Deliveries are POSTed with Standard Webhooks headers
(webhook-id, webhook-timestamp, webhook-signature), with explicit timeouts; a non-2xx answer or
a network error is retried with exponential backoff by a scheduled task; an endpoint that answers
410 Gone GONE_LIMIT times in a row is disabled and its pending deliveries cancelled.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from standardwebhooks.webhooks import Webhook
from uuid_utils.compat import uuid7

from .models import Delivery, Endpoint, Message

logger = logging.getLogger(__name__)

EVENT_TYPES = (
    "coupon.created",
    "referral.created",
    "referral.cancelled",
    "commission.created",
    "payout.paid",
)
GONE_LIMIT = 3
MAX_ATTEMPTS = 8
_BACKOFF_BASE = timedelta(seconds=30)
_BACKOFF_CAP = timedelta(hours=6)
_LEASE = timedelta(minutes=2)
TIMEOUT = httpx.Timeout(10.0, connect=3.0)


class WebhookError(ValueError):
    """Input the webhooks_out context refuses, with a stable code and the offending field."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


@dataclass(frozen=True)
class EndpointRef:
    id: UUID
    app_id: UUID
    url: str
    event_types: tuple[str, ...]
    is_active: bool
    disabled_reason: str


def _endpoint_ref(row: Endpoint) -> EndpointRef:
    return EndpointRef(
        id=row.id,
        app_id=row.app_id,
        url=row.url,
        event_types=tuple(row.event_types or ()),
        is_active=row.is_active,
        disabled_reason=row.disabled_reason,
    )


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min … after the n-th failed attempt, capped at 6 hours."""
    return min(_BACKOFF_BASE * (2 ** max(attempts - 1, 0)), _BACKOFF_CAP)


def generate_secret() -> str:
    import base64

    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


# --- endpoints ------------------------------------------------------------------------------


def create_endpoint(
    *, app_id: UUID, url: str, event_types: list[str] | None = None, secret: str | None = None
) -> tuple[EndpointRef, str]:
    """Register an endpoint for an app; returns (endpoint, secret). Show the secret once."""
    if not isinstance(url, str) or "\x00" in url or len(url) > 500:
        raise WebhookError("invalid", "is not a URL", "url")
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise WebhookError("invalid", "must be an http(s) URL", "url")
    types = sorted(set(event_types or ()))
    unknown = [t for t in types if t not in EVENT_TYPES]
    if unknown:
        raise WebhookError("invalid", f"unknown event type {unknown[0]!r}", "event_types")
    if secret is not None:
        try:
            Webhook(secret)
        except Exception:
            raise WebhookError("invalid", "must be a whsec_ secret", "secret")
    secret = secret or generate_secret()
    row = Endpoint.objects.create(app_id=app_id, url=url, secret=secret, event_types=types)
    return _endpoint_ref(row), secret


def list_endpoints(*, app_id: UUID | None = None) -> list[EndpointRef]:
    qs = Endpoint.objects.order_by("created_at")
    if app_id is not None:
        qs = qs.filter(app_id=app_id)
    return [_endpoint_ref(r) for r in qs]


def set_endpoint_active(*, endpoint_id: UUID, active: bool, reason: str = "") -> bool:
    """Enable (resetting the 410 count) or disable an endpoint; disabling cancels its queue."""
    with transaction.atomic():
        if active:
            changed = Endpoint.objects.filter(pk=endpoint_id).update(
                is_active=True,
                consecutive_gone=0,
                disabled_at=None,
                disabled_reason="",
                updated_at=timezone.now(),
            )
        else:
            changed = Endpoint.objects.filter(pk=endpoint_id, is_active=True).update(
                is_active=False,
                disabled_at=timezone.now(),
                disabled_reason=reason[:255] or "disabled by staff",
                updated_at=timezone.now(),
            )
            Delivery.objects.filter(endpoint_id=endpoint_id, status=Delivery.Status.PENDING).update(
                status=Delivery.Status.CANCELLED, updated_at=timezone.now()
            )
    return bool(changed)


# --- emitting -------------------------------------------------------------------------------


def _enqueue(delivery_ids: list[UUID]) -> None:
    from . import tasks

    for delivery_id in delivery_ids:
        try:
            tasks.deliver_webhook.delay(str(delivery_id))
        except Exception:  # broker down: the scheduled task picks the delivery up
            logger.exception("could not enqueue webhook delivery %s", delivery_id)


def emit(*, app_id: UUID, type: str, data: dict[str, Any]) -> UUID:
    """Record an event for the app's endpoints in the current transaction; send after commit.

    Returns the message id. `data` must be JSON-serialisable (ids as strings)."""
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {type!r}")
    now = timezone.now()
    msg_id = f"msg_{uuid7().hex}"
    payload = {"type": type, "timestamp": now.isoformat(), "data": data}
    json.dumps(payload)  # fail here, in the caller's transaction, not later in a worker
    with transaction.atomic():
        message = Message.objects.create(app_id=app_id, type=type, msg_id=msg_id, payload=payload)
        endpoints = [
            e
            for e in Endpoint.objects.filter(app_id=app_id, is_active=True)
            if not e.event_types or type in e.event_types
        ]
        deliveries = Delivery.objects.bulk_create(
            [Delivery(message=message, endpoint=e, next_attempt_at=now) for e in endpoints]
        )
        ids = [d.id for d in deliveries]
        if ids:
            transaction.on_commit(lambda: _enqueue(ids))
    return message.id


def emit_many(*, type: str, events: list[tuple[UUID, dict[str, Any]]]) -> int:
    """`emit` for many (app_id, data) events of one type at once: one INSERT of messages, one
    endpoint lookup and one INSERT of deliveries, whatever their number (batch processing).
    Returns how many messages were written."""
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {type!r}")
    if not events:
        return 0
    now = timezone.now()
    messages = []
    for app_id, data in events:
        payload = {"type": type, "timestamp": now.isoformat(), "data": data}
        json.dumps(payload)  # fail here, in the caller's transaction, not later in a worker
        messages.append(
            Message(app_id=app_id, type=type, msg_id=f"msg_{uuid7().hex}", payload=payload)
        )
    with transaction.atomic(savepoint=False):  # the caller's savepoint covers it
        Message.objects.bulk_create(messages)
        endpoints: dict[UUID, list[Endpoint]] = {}
        for e in Endpoint.objects.filter(
            app_id__in={m.app_id for m in messages}, is_active=True
        ).order_by("id"):
            if not e.event_types or type in e.event_types:
                endpoints.setdefault(e.app_id, []).append(e)
        deliveries = [
            Delivery(message=m, endpoint=e, next_attempt_at=now)
            for m in messages
            for e in endpoints.get(m.app_id, [])
        ]
        if deliveries:
            Delivery.objects.bulk_create(deliveries)
            ids = [d.id for d in deliveries]
            transaction.on_commit(lambda: _enqueue(ids))
    return len(messages)


# --- delivering -----------------------------------------------------------------------------


def sign(*, secret: str, msg_id: str, timestamp: datetime, body: str) -> str:
    return Webhook(secret).sign(msg_id, timestamp, body)


def _claim(delivery_id: UUID | str, now: datetime) -> Delivery | None:
    """Take the delivery for one attempt: the conditional UPDATE decides between workers."""
    claimed = Delivery.objects.filter(
        pk=delivery_id, status=Delivery.Status.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=now + _LEASE)
    if not claimed:
        return None
    return Delivery.objects.select_related("message", "endpoint").get(pk=delivery_id)


def deliver(*, delivery_id: UUID | str, client: httpx.Client | None = None) -> str:
    """One attempt at a due delivery; returns its status afterwards ("skipped" when not due)."""
    now = timezone.now()
    row = _claim(delivery_id, now)
    if row is None:
        return "skipped"
    endpoint, message = row.endpoint, row.message
    if not endpoint.is_active:
        Delivery.objects.filter(pk=row.pk).update(status=Delivery.Status.CANCELLED, updated_at=now)
        return Delivery.Status.CANCELLED
    body = json.dumps(message.payload, separators=(",", ":"))
    headers = {
        "content-type": "application/json",
        "user-agent": "KanGrow-Webhooks/1",
        "webhook-id": message.msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": sign(
            secret=endpoint.secret, msg_id=message.msg_id, timestamp=now, body=body
        ),
    }
    status_code: int | None = None
    error = ""
    try:
        if client is None:
            with httpx.Client(timeout=TIMEOUT, follow_redirects=False) as own:
                response = own.post(endpoint.url, content=body.encode(), headers=headers)
        else:
            response = client.post(endpoint.url, content=body.encode(), headers=headers)
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = response.text[:200]
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    return _record_attempt(row, now=now, status_code=status_code, error=error)


def _record_attempt(row: Delivery, *, now: datetime, status_code: int | None, error: str) -> str:
    attempts = row.attempts + 1
    gone = 0
    with transaction.atomic():
        if status_code == 410:
            Endpoint.objects.filter(pk=row.endpoint_id).update(
                consecutive_gone=F("consecutive_gone") + 1
            )
            gone = Endpoint.objects.filter(pk=row.endpoint_id).values_list(
                "consecutive_gone", flat=True
            )[0]
        elif status_code is not None:
            Endpoint.objects.filter(pk=row.endpoint_id, consecutive_gone__gt=0).update(
                consecutive_gone=0
            )
        fields: dict[str, Any] = {
            "attempts": attempts,
            "last_status_code": status_code,
            "last_error": error,
            "updated_at": now,
        }
        if status_code is not None and 200 <= status_code < 300:
            fields.update(status=Delivery.Status.DELIVERED, delivered_at=now)
        elif attempts >= MAX_ATTEMPTS:
            fields.update(status=Delivery.Status.FAILED)
        else:
            fields.update(next_attempt_at=now + backoff(attempts))
        # Only a still-pending row changes (a disabled endpoint may have cancelled it meanwhile).
        Delivery.objects.filter(pk=row.pk, status=Delivery.Status.PENDING).update(**fields)
        if gone >= GONE_LIMIT:
            set_endpoint_active(
                endpoint_id=row.endpoint_id,
                active=False,
                reason=f"answered 410 Gone {gone} times in a row",
            )
    return Delivery.objects.filter(pk=row.pk).values_list("status", flat=True)[0]


def deliver_due(*, limit: int = 200, client: httpx.Client | None = None) -> int:
    """Attempt every pending delivery that is due (the beat task); returns how many were tried."""
    ids = list(
        Delivery.objects.filter(
            status=Delivery.Status.PENDING,
            next_attempt_at__lte=timezone.now(),
            endpoint__is_active=True,
        )
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )
    for delivery_id in ids:
        deliver(delivery_id=delivery_id, client=client)
    return len(ids)


def retry_delivery(*, delivery_id: UUID | str) -> bool:
    """Staff: make a failed or cancelled delivery pending and due now (endpoint must be active)."""
    return bool(
        Delivery.objects.filter(
            pk=delivery_id,
            status__in=[Delivery.Status.FAILED, Delivery.Status.CANCELLED],
            endpoint__is_active=True,
        ).update(
            status=Delivery.Status.PENDING,
            attempts=0,
            next_attempt_at=timezone.now(),
            updated_at=timezone.now(),
        )
    )


def get_delivery_status(*, delivery_id: UUID | str) -> str:
    status = Delivery.objects.filter(pk=delivery_id).values_list("status", flat=True).first()
    return status or "missing"


def list_deliveries(*, message_id: UUID) -> list[Delivery]:
    return list(Delivery.objects.filter(message_id=message_id).order_by("created_at"))
