"""A local fake of PayPal's Payouts and webhook-verification APIs, faithful to the published spec.

Run it:   python -m kangrow.integrations.paypal.fake --port 8765 [--webhook-url URL]
and point PAYPAL_API_BASE at http://127.0.0.1:8765 (client id/secret: see --client-id/--secret).
From tests: ``with FakePayPal() as fake: ...`` starts it on a free port in a background thread;
``fake.base_url`` and the state (``fake.batches``, ``fake.items``, ``fake.requests``,
``fake.events``) are there to assert on.

What it does, as PayPal does:
- POST /v1/oauth2/token: client-credentials grant with HTTP Basic auth; 401 for wrong credentials.
  Every other call needs a live bearer token (401 AUTHENTICATION_FAILURE otherwise).
- POST /v1/payments/payouts: the body is validated against `create_payout_request` (400
  VALIDATION_ERROR with details otherwise), amounts must have the currency's decimals; a
  `sender_batch_id` seen before is refused with 400 USER_BUSINESS_ERROR (field SENDER_BATCH_ID)
  linking the original batch; otherwise 201 with `batch_header.batch_status` PENDING.
- GET /v1/payments/payouts/{id}: pages (page, page_size, total_required). Each read moves the batch
  on one step: PENDING → PROCESSING → SUCCESS (DENIED when every item is scripted DENIED), when
  every item takes its scripted outcome. Item status DENIED is what PayPal sends in
  PAYMENT.PAYOUTS-ITEM.DENIED although the published `transaction_enum` omits it.
- GET /v1/payments/payouts-item/{id}; POST /v1/payments/payouts-item/{id}/cancel (only an
  UNCLAIMED item; it becomes RETURNED; anything else is refused with a 400 error).
- POST /v1/notifications/verify-webhook-signature: SUCCESS only for a delivery this fake sent
  (same transmission headers, same event, the configured webhook id), FAILURE otherwise.
- Webhooks (to ``webhook_url`` when set, also kept in ``fake.events``): PAYMENT.PAYOUTSBATCH.
  PROCESSING/SUCCESS and PAYMENT.PAYOUTS-ITEM.SUCCEEDED/FAILED/UNCLAIMED/RETURNED/HELD/BLOCKED/
  REFUNDED/REVERSED/DENIED/CANCELED, shaped as the webhooks spec's `event`.

Scripts:
- Item outcome by receiver: a ``+tag`` in the local part (``jane+unclaimed@example.com``; tags:
  success, failed, unclaimed, returned, onhold/held, blocked, refunded, reversed, denied,
  pending), or ``fake.script_outcome(email, "FAILED")`` / POST /_fake/outcomes
  ``{"receiver": ..., "status": ...}``. Default SUCCESS.
- Faults for the next calls of an operation (token, create_batch, get_batch, get_item,
  cancel_item, verify): ``fake.inject(operation, kind, times=1)`` or POST /_fake/faults
  ``{"operation", "kind", "times", "retry_after"}``. Kinds: "500", "503", "429" (with
  Retry-After), "timeout" (hang, nothing done), "timeout_after_accept" (do the work, then hang past
  the client's read timeout), "500_after_accept" (do the work, answer 500), "drop" (close the
  connection without an answer).
- Control: GET /_fake/state, POST /_fake/reset, POST /_fake/batches/{id}/advance,
  POST /_fake/items/{id}/expire (30 days unclaimed → RETURNED), POST /_fake/revoke-tokens.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import secrets
import socket
import string
import threading
import urllib.error
import urllib.request
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kangrow.core.money import currency_exponent

from . import schema

logger = logging.getLogger("kangrow.integrations.paypal.fake")

DEFAULT_CLIENT_ID = "fake-client-id"
DEFAULT_CLIENT_SECRET = "fake-client-secret"  # a test credential of the fake, not a secret
DEFAULT_WEBHOOK_ID = "FAKEWEBHOOK0001"
ITEM_OUTCOMES = (
    "SUCCESS",
    "FAILED",
    "PENDING",
    "UNCLAIMED",
    "RETURNED",
    "ONHOLD",
    "BLOCKED",
    "REFUNDED",
    "REVERSED",
    "DENIED",
)
_TAG_ALIASES = {"held": "ONHOLD", "hold": "ONHOLD", "succeeded": "SUCCESS"}
ITEM_EVENT_TYPES = {
    "SUCCESS": "PAYMENT.PAYOUTS-ITEM.SUCCEEDED",
    "FAILED": "PAYMENT.PAYOUTS-ITEM.FAILED",
    "UNCLAIMED": "PAYMENT.PAYOUTS-ITEM.UNCLAIMED",
    "RETURNED": "PAYMENT.PAYOUTS-ITEM.RETURNED",
    "ONHOLD": "PAYMENT.PAYOUTS-ITEM.HELD",
    "BLOCKED": "PAYMENT.PAYOUTS-ITEM.BLOCKED",
    "REFUNDED": "PAYMENT.PAYOUTS-ITEM.REFUNDED",
    "REVERSED": "PAYMENT.PAYOUTS-ITEM.REVERSED",
    "DENIED": "PAYMENT.PAYOUTS-ITEM.DENIED",
}
ITEM_ERRORS = {  # what PayPal puts in an item's `errors` for these outcomes
    "FAILED": ("RECEIVER_UNCONFIRMED", "The receiver's account could not receive this payout."),
    "UNCLAIMED": (
        "RECEIVER_UNREGISTERED",
        "The recipient for this payout does not have an account. A link to sign up for an "
        "account was sent to the recipient. However, if the recipient does not claim this payout "
        "within 30 days, the funds will be returned to your account.",
    ),
    "BLOCKED": ("RECEIVER_ACCOUNT_LOCKED", "The receiver's account is locked or inactive."),
    "DENIED": ("RISK_DENIED", "This payout was denied by PayPal's risk review."),
    "ONHOLD": ("PENDING_RECIPIENT_NON_HOLD", "This payout is on hold for review."),
}
FAULT_KINDS = (
    "500",
    "503",
    "429",
    "timeout",
    "timeout_after_accept",
    "500_after_accept",
    "drop",
)
OPERATIONS = ("token", "create_batch", "get_batch", "get_item", "cancel_item", "verify")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _paypal_id(length: int = 13) -> str:
    alphabet = string.ascii_uppercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _debug_id() -> str:
    return secrets.token_hex(7)


@dataclass
class FakeItem:
    payout_item_id: str
    payout_batch_id: str
    sender_batch_id: str
    receiver: str
    sender_item_id: str | None
    value: str
    currency: str
    note: str | None
    outcome: str
    transaction_status: str = "PENDING"
    transaction_id: str | None = None
    time_processed: str | None = None


@dataclass
class FakeBatch:
    payout_batch_id: str
    sender_batch_id: str
    email_subject: str | None
    email_message: str | None
    item_ids: list[str]
    batch_status: str = "PENDING"
    time_created: str = field(default_factory=_now)
    time_completed: str | None = None
    polls: int = 0


@dataclass
class FakeEvent:
    """One webhook transmission: what was (or would be) POSTed to the listener."""

    event: dict[str, Any]
    headers: dict[str, str]
    body: bytes
    delivered_status: int | None = None
    delivery_error: str | None = None


@dataclass
class Fault:
    operation: str
    kind: str
    times: int = 1
    retry_after: int = 1


class FakeState:
    """Everything the fake knows. All access under `lock`."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        webhook_id: str,
        webhook_url: str | None,
        token_ttl: int,
        hang_seconds: float,
    ) -> None:
        self.lock = threading.RLock()
        self.delivery_lock = threading.Lock()  # one delivery pass at a time: no double posts
        self.client_id = client_id
        self.client_secret = client_secret
        self.webhook_id = webhook_id
        self.webhook_url = webhook_url
        self.token_ttl = token_ttl
        self.hang_seconds = hang_seconds
        self.base_url = ""
        self._signing_key = secrets.token_bytes(32)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.tokens: dict[str, float] = {}
            self.tokens_issued = 0
            self.batches: dict[str, FakeBatch] = {}
            self.batch_by_sender_id: dict[str, str] = {}
            self.items: dict[str, FakeItem] = {}
            self.requests: list[dict[str, Any]] = []
            self.outcomes: dict[str, str] = {}
            self.faults: list[Fault] = []
            self.events: list[FakeEvent] = []

    # -- scripts --------------------------------------------------------------------------------

    def outcome_for(self, receiver: str) -> str:
        scripted = self.outcomes.get(receiver.lower())
        if scripted:
            return scripted
        local = receiver.split("@", 1)[0]
        if "+" in local:
            tag = local.rsplit("+", 1)[1].lower()
            tag_status = _TAG_ALIASES.get(tag, tag.upper())
            if tag_status in ITEM_OUTCOMES:
                return tag_status
        return "SUCCESS"

    def take_fault(self, operation: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.operation == operation and fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self.faults.remove(fault)
                    return fault
        return None

    # -- representations (as PayPal answers) ----------------------------------------------------

    def link(self, path: str, rel: str, method: str = "GET") -> dict[str, str]:
        return {"href": f"{self.base_url}{path}", "rel": rel, "method": method}

    def sender_header(self, batch: FakeBatch) -> dict[str, Any]:
        header: dict[str, Any] = {"sender_batch_id": batch.sender_batch_id}
        if batch.email_subject:
            header["email_subject"] = batch.email_subject
        if batch.email_message:
            header["email_message"] = batch.email_message
        return header

    def batch_header(self, batch: FakeBatch) -> dict[str, Any]:
        header: dict[str, Any] = {
            "payout_batch_id": batch.payout_batch_id,
            "batch_status": batch.batch_status,
            "time_created": batch.time_created,
            "sender_batch_header": self.sender_header(batch),
        }
        if batch.time_completed:
            header["time_completed"] = batch.time_completed
        items = [self.items[item_id] for item_id in batch.item_ids]
        currencies = {item.currency for item in items}
        if len(currencies) == 1:
            currency = currencies.pop()
            exponent = currency_exponent(currency)
            total = sum(Decimal(item.value) for item in items)
            header["funding_source"] = "BALANCE"
            header["amount"] = {"currency": currency, "value": f"{total:.{exponent}f}"}
            header["fees"] = {"currency": currency, "value": f"{Decimal(0):.{exponent}f}"}
        return header

    def item_body(self, item: FakeItem, *, with_sender_batch_id: bool) -> dict[str, Any]:
        detail: dict[str, Any] = {
            "recipient_type": "EMAIL",
            "amount": {"currency": item.currency, "value": item.value},
            "receiver": item.receiver,
            "recipient_wallet": "PAYPAL",
        }
        if item.note:
            detail["note"] = item.note
        if item.sender_item_id is not None:
            detail["sender_item_id"] = item.sender_item_id
        body: dict[str, Any] = {
            "payout_item_id": item.payout_item_id,
            "transaction_status": item.transaction_status,
            "payout_item_fee": {
                "currency": item.currency,
                "value": f"{Decimal(0):.{currency_exponent(item.currency)}f}",
            },
            "payout_batch_id": item.payout_batch_id,
            "payout_item": detail,
            "links": [self.link(f"/v1/payments/payouts-item/{item.payout_item_id}", "item")],
        }
        if with_sender_batch_id:
            body["sender_batch_id"] = item.sender_batch_id
        if item.transaction_id:
            body["transaction_id"] = item.transaction_id
        if item.time_processed:
            body["time_processed"] = item.time_processed
        error = ITEM_ERRORS.get(item.transaction_status)
        if error:
            body["errors"] = {"name": error[0], "message": error[1], "debug_id": _debug_id()}
        return body

    # -- state changes --------------------------------------------------------------------------

    def advance(self, payout_batch_id: str) -> None:
        """One step along PENDING → PROCESSING → SUCCESS (items take their scripted outcome)."""
        with self.lock:
            batch = self.batches[payout_batch_id]
            if batch.batch_status == "PENDING":
                batch.batch_status = "PROCESSING"
                self.emit(
                    "PAYMENT.PAYOUTSBATCH.PROCESSING",
                    "payouts",
                    "Payouts batch is being processed.",
                    self.batch_resource(batch),
                )
            elif batch.batch_status == "PROCESSING":
                now = _now()
                for item_id in batch.item_ids:
                    item = self.items[item_id]
                    item.transaction_status = item.outcome
                    if item.outcome != "PENDING":
                        item.time_processed = now
                        item.transaction_id = _paypal_id(17)
                outcomes = {self.items[item_id].outcome for item_id in batch.item_ids}
                # PayPal denies a whole batch (e.g. risk, insufficient funds): every item DENIED.
                batch.batch_status = "DENIED" if outcomes == {"DENIED"} else "SUCCESS"
                batch.time_completed = now
                for item_id in batch.item_ids:
                    item = self.items[item_id]
                    event_type = ITEM_EVENT_TYPES.get(item.transaction_status)
                    if event_type:
                        self.emit_item_event(item, event_type)
                self.emit(
                    f"PAYMENT.PAYOUTSBATCH.{batch.batch_status}",
                    "payouts",
                    "Payouts batch completed successfully."
                    if batch.batch_status == "SUCCESS"
                    else "Payouts batch got denied.",
                    self.batch_resource(batch),
                )

    def settle(self, payout_batch_id: str) -> None:
        """Move a batch straight to its final state."""
        with self.lock:
            while self.batches[payout_batch_id].batch_status in ("PENDING", "PROCESSING"):
                self.advance(payout_batch_id)

    def expire_unclaimed(self, payout_item_id: str) -> None:
        """PayPal's 30 days are over: an UNCLAIMED item is RETURNED to the sender."""
        with self.lock:
            item = self.items[payout_item_id]
            if item.transaction_status != "UNCLAIMED":
                raise ValueError(f"item {payout_item_id} is {item.transaction_status}")
            item.transaction_status = "RETURNED"
            item.time_processed = _now()
            self.emit_item_event(item, ITEM_EVENT_TYPES["RETURNED"])

    def batch_resource(self, batch: FakeBatch) -> dict[str, Any]:
        return {
            "batch_header": self.batch_header(batch),
            "links": [self.link(f"/v1/payments/payouts/{batch.payout_batch_id}", "self")],
        }

    def emit_item_event(self, item: FakeItem, event_type: str) -> None:
        status = event_type.rsplit(".", 1)[1].lower()
        self.emit(
            event_type,
            "payouts_item",
            f"A payout item has {status}.",
            self.item_body(item, with_sender_batch_id=True),
        )

    def emit(
        self, event_type: str, resource_type: str, summary: str, resource: dict[str, Any]
    ) -> FakeEvent:
        event_id = f"WH-{_paypal_id(17)}-{_paypal_id(17)}"
        event = {
            "id": event_id,
            "event_version": "1.0",
            "create_time": _now(),
            "resource_type": resource_type,
            "event_type": event_type,
            "summary": summary,
            "resource": resource,
            "links": [
                self.link(f"/v1/notifications/webhooks-events/{event_id}", "self"),
                self.link(f"/v1/notifications/webhooks-events/{event_id}/resend", "resend", "POST"),
            ],
        }
        body = json.dumps(event, separators=(",", ":")).encode("utf-8")
        transmission_id = str(uuid.uuid4())
        transmission_time = _now()
        headers = {
            "Content-Type": "application/json",
            "PAYPAL-TRANSMISSION-ID": transmission_id,
            "PAYPAL-TRANSMISSION-TIME": transmission_time,
            "PAYPAL-TRANSMISSION-SIG": self.signature(transmission_id, transmission_time, body),
            "PAYPAL-CERT-URL": f"{self.base_url}/v1/notifications/certs/CERT-FAKE-0001",
            "PAYPAL-AUTH-ALGO": "SHA256withRSA",
        }
        record = FakeEvent(event=event, headers=headers, body=body)
        with self.lock:
            self.events.append(record)
        return record

    def signature(self, transmission_id: str, transmission_time: str, body: bytes) -> str:
        # PayPal signs "<transmission id>|<time>|<webhook id>|<crc32 of body>" (with RSA); the fake
        # uses an HMAC of the same string, which only it can check.
        crc = binascii.crc32(body)
        message = f"{transmission_id}|{transmission_time}|{self.webhook_id}|{crc}"
        return hmac.new(self._signing_key, message.encode(), hashlib.sha256).hexdigest()

    def verify(self, payload: dict[str, Any]) -> bool:
        with self.lock:
            for record in self.events:
                if record.headers["PAYPAL-TRANSMISSION-ID"] != payload["transmission_id"]:
                    continue
                return (
                    payload["webhook_id"] == self.webhook_id
                    and hmac.compare_digest(
                        record.headers["PAYPAL-TRANSMISSION-SIG"], payload["transmission_sig"]
                    )
                    and record.headers["PAYPAL-TRANSMISSION-TIME"] == payload["transmission_time"]
                    and record.headers["PAYPAL-CERT-URL"] == payload["cert_url"]
                    and record.headers["PAYPAL-AUTH-ALGO"] == payload["auth_algo"]
                    and record.event == payload["webhook_event"]
                )
        return False

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "batches": [asdict(batch) for batch in self.batches.values()],
                "items": [asdict(item) for item in self.items.values()],
                "events": [
                    {
                        "event_type": record.event["event_type"],
                        "id": record.event["id"],
                        "delivered_status": record.delivered_status,
                    }
                    for record in self.events
                ],
                "requests": [
                    {"method": r["method"], "path": r["path"], "status": r.get("status")}
                    for r in self.requests
                ],
                "faults": [asdict(fault) for fault in self.faults],
                "tokens_issued": self.tokens_issued,
            }


class _Reply(Exception):
    """Raised inside a handler to answer at once."""

    def __init__(
        self, status: int, body: dict[str, Any] | None, headers: dict[str, str] | None = None
    ):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def _error(
    status: int,
    name: str,
    message: str,
    details: list[dict[str, str]] | None = None,
    links: list[dict[str, str]] | None = None,
) -> _Reply:
    body: dict[str, Any] = {
        "name": name,
        "message": message,
        "debug_id": _debug_id(),
        "information_link": "https://developer.paypal.com/docs/api/payments.payouts-batch/#errors",
    }
    if details is not None:
        body["details"] = details
    body["links"] = links or []
    return _Reply(status, body)


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakePayPal/1"
    protocol_version = "HTTP/1.1"
    state: FakeState  # set on the subclass built per server
    stop_event: threading.Event

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        logger.debug("fake paypal: " + format, *args)

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PATCH(self) -> None:  # noqa: N802
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    # -- plumbing -------------------------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        record: dict[str, Any] = {
            "method": method,
            "path": url.path,
            "query": {key: values[-1] for key, values in parse_qs(url.query).items()},
            "headers": {
                key.lower(): value
                for key, value in self.headers.items()
                if key.lower() != "authorization"
            },
            "auth_scheme": (self.headers.get("Authorization") or " ").split(" ", 1)[0],
            "raw_body": raw,
            "status": None,  # None until answered; stays None for a hang-up
        }
        with self.state.lock:
            self.state.requests.append(record)
        try:
            status, body, headers = self._route(method, url.path, record, raw)
        except _Reply as reply:
            status, body, headers = reply.status, reply.body, reply.headers
        except _Hangup:
            record["status"] = None
            self.close_connection = True
            return
        except Exception:  # a bug in the fake must still answer like PayPal would
            logger.exception("fake paypal failed on %s %s", method, url.path)
            status, body, headers = 500, _error(500, "INTERNAL_SERVER_ERROR", "fake bug").body, {}
        record["status"] = status
        self._send(status, body, headers)

    def _send(self, status: int, body: dict[str, Any] | None, headers: dict[str, str]) -> None:
        payload = b"" if body is None else json.dumps(body).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Paypal-Debug-Id", _debug_id())
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _json(self, raw: bytes) -> Any:
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise _error(
                400,
                "MALFORMED_REQUEST",
                "Incoming JSON request does not map to API request",
            )

    def _hang(self) -> None:
        self.stop_event.wait(self.state.hang_seconds)

    def _fault(self, operation: str) -> Fault | None:
        fault = self.state.take_fault(operation)
        if fault is None:
            return None
        if fault.kind in ("500", "503"):
            name = "INTERNAL_SERVER_ERROR" if fault.kind == "500" else "SERVICE_UNAVAILABLE"
            raise _error(int(fault.kind), name, "An internal server error has occurred.")
        if fault.kind == "429":
            reply = _error(
                429, "RATE_LIMIT_REACHED", "Too many requests. Blocked due to throttling."
            )
            reply.headers["Retry-After"] = str(fault.retry_after)
            raise reply
        if fault.kind == "timeout":
            self._hang()
            raise _Hangup()
        if fault.kind == "drop":
            raise _Hangup()
        return fault  # *_after_accept: the caller does the work first

    def _after_accept(self, fault: Fault | None) -> None:
        if fault is None:
            return
        if fault.kind == "timeout_after_accept":
            self._hang()
            raise _Hangup()
        if fault.kind == "500_after_accept":
            raise _error(500, "INTERNAL_SERVER_ERROR", "An internal server error has occurred.")

    def _check_bearer(self) -> None:
        header = self.headers.get("Authorization") or ""
        scheme, _, token = header.partition(" ")
        with self.state.lock:
            expires_at = self.state.tokens.get(token) if scheme == "Bearer" else None
        if expires_at is None or expires_at < datetime.now(UTC).timestamp():
            raise _error(
                401,
                "AUTHENTICATION_FAILURE",
                "Authentication failed due to invalid authentication credentials or a missing "
                "Authorization header.",
            )

    def _check_contract(self, method: str, path: str, record: dict[str, Any], body: Any) -> None:
        errors = schema.request_errors(
            method,
            path,
            query=record["query"],
            headers=record["headers"],
            body=body,
            has_body=bool(record["raw_body"]),
        )
        if errors:
            raise _error(
                400,
                "VALIDATION_ERROR",
                "Invalid request - see details",
                details=[{"location": "body", "issue": issue} for issue in errors[:50]],
            )

    # -- routes ---------------------------------------------------------------------------------

    def _route(
        self, method: str, path: str, record: dict[str, Any], raw: bytes
    ) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        if path.startswith("/_fake/"):
            return self._control(method, path, raw)
        if method == "POST" and path == schema.TOKEN_PATH:
            return self._token(raw)
        operation = schema.find_operation(method, path)
        if operation is None:
            raise _error(404, "RESOURCE_NOT_FOUND", "The specified resource does not exist.")
        handlers = {
            "payouts.post": self._create_batch,
            "payouts.get": self._get_batch,
            "payouts-item.get": self._get_item,
            "payouts-item.cancel": self._cancel_item,
            "verify-webhook-signature.post": self._verify,
        }
        handler = handlers.get(operation.operation_id)
        if handler is None:
            raise _error(404, "RESOURCE_NOT_FOUND", "The fake does not implement this operation.")
        self._check_bearer()
        body = self._json(raw) if raw else None
        return handler(path, record, body, operation.path_params)

    def _token(self, raw: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        self._fault("token")
        header = self.headers.get("Authorization") or ""
        scheme, _, encoded = header.partition(" ")
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user, password = "", ""
        form = parse_qs(raw.decode("utf-8", "replace"))
        if (
            scheme != "Basic"
            or not hmac.compare_digest(user, self.state.client_id)
            or not hmac.compare_digest(password, self.state.client_secret)
        ):
            raise _Reply(
                401,
                {"error": "invalid_client", "error_description": "Client Authentication failed"},
            )
        if form.get("grant_type") != ["client_credentials"]:
            raise _Reply(
                400,
                {"error": "unsupported_grant_type", "error_description": "Grant Type is NULL"},
            )
        token = "A21AA" + secrets.token_urlsafe(32)
        with self.state.lock:
            self.state.tokens[token] = datetime.now(UTC).timestamp() + self.state.token_ttl
            self.state.tokens_issued += 1
        return (
            200,
            {
                "scope": "https://uri.paypal.com/services/payments/payouts "
                "https://uri.paypal.com/payments/payouts",
                "access_token": token,
                "token_type": "Bearer",
                "app_id": "APP-FAKE0000000000000",
                "expires_in": self.state.token_ttl,
                "nonce": f"{_now()}{secrets.token_hex(8)}",
            },
            {},
        )

    def _create_batch(
        self, path: str, record: dict[str, Any], body: Any, params: dict[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        fault = self._fault("create_batch")
        self._check_contract("POST", path, record, body)
        header = body["sender_batch_header"]
        sender_batch_id = header.get("sender_batch_id")
        details = []
        for index, entry in enumerate(body["items"]):
            amount = entry["amount"]
            currency = amount["currency"]
            if not re.fullmatch(r"[A-Z]{3}", currency):
                details.append(
                    {
                        "field": f"items[{index}].amount.currency",
                        "location": "body",
                        "issue": "Currency code is invalid",
                    }
                )
                continue
            try:
                value = Decimal(amount["value"])
            except InvalidOperation:
                value = Decimal("NaN")
            exponent = currency_exponent(currency)
            if (
                not value.is_finite()
                or value <= 0
                or not re.fullmatch(r"\d+(\.\d+)?", amount["value"])
                or -value.as_tuple().exponent > exponent  # type: ignore[operator]
            ):
                details.append(
                    {
                        "field": f"items[{index}].amount.value",
                        "location": "body",
                        "issue": f"Amount is invalid or has more than {exponent} decimals",
                    }
                )
            recipient = entry.get("recipient_type", header.get("recipient_type", "EMAIL"))
            if recipient.upper() == "EMAIL" and not re.fullmatch(
                r"[^@\s]+@[^@\s]+\.[^@\s]+", entry["receiver"]
            ):
                details.append(
                    {
                        "field": f"items[{index}].receiver",
                        "location": "body",
                        "issue": "Receiver is invalid or does not match with type",
                    }
                )
        sender_item_ids = [e.get("sender_item_id") for e in body["items"] if "sender_item_id" in e]
        if len(sender_item_ids) != len(set(sender_item_ids)):
            details.append(
                {
                    "field": "items.sender_item_id",
                    "location": "body",
                    "issue": "sender_item_id is duplicated within the batch",
                }
            )
        if details:
            raise _error(400, "VALIDATION_ERROR", "Invalid request - see details", details)
        with self.state.lock:
            existing = (
                self.state.batch_by_sender_id.get(sender_batch_id) if sender_batch_id else None
            )
            if existing is not None:
                raise _error(
                    400,
                    "USER_BUSINESS_ERROR",
                    "User business error.",
                    details=[
                        {
                            "field": "SENDER_BATCH_ID",
                            "location": "body",
                            "issue": "Batch with given sender_batch_id already exists",
                        }
                    ],
                    links=[self.state.link(f"/v1/payments/payouts/{existing}", "self")],
                )
            batch = FakeBatch(
                payout_batch_id=_paypal_id(),
                sender_batch_id=sender_batch_id or _paypal_id(),
                email_subject=header.get("email_subject"),
                email_message=header.get("email_message"),
                item_ids=[],
            )
            for entry in body["items"]:
                item = FakeItem(
                    payout_item_id=_paypal_id(),
                    payout_batch_id=batch.payout_batch_id,
                    sender_batch_id=batch.sender_batch_id,
                    receiver=entry["receiver"],
                    sender_item_id=entry.get("sender_item_id"),
                    value=entry["amount"]["value"],
                    currency=entry["amount"]["currency"],
                    note=entry.get("note"),
                    outcome=self.state.outcome_for(entry["receiver"]),
                )
                self.state.items[item.payout_item_id] = item
                batch.item_ids.append(item.payout_item_id)
            self.state.batches[batch.payout_batch_id] = batch
            self.state.batch_by_sender_id[batch.sender_batch_id] = batch.payout_batch_id
            answer = {
                "batch_header": {
                    "payout_batch_id": batch.payout_batch_id,
                    "batch_status": batch.batch_status,
                    "sender_batch_header": self.state.sender_header(batch),
                },
                "links": [self.state.link(f"/v1/payments/payouts/{batch.payout_batch_id}", "self")],
            }
        self._after_accept(fault)
        return 201, answer, {}

    def _get_batch(
        self, path: str, record: dict[str, Any], body: Any, params: dict[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        fault = self._fault("get_batch")
        self._check_contract("GET", path, record, body)
        query = record["query"]
        page = int(query.get("page", 1)) or 1
        page_size = int(query.get("page_size", 1000)) or 1000
        with self.state.lock:
            batch = self.state.batches.get(params["id"])
            if batch is None:
                raise _error(404, "INVALID_RESOURCE_ID", "Requested resource ID was not found.")
            if page == 1:  # one poll = one read of the first page; later pages see the same state
                batch.polls += 1
                if batch.batch_status in ("PENDING", "PROCESSING"):
                    self.state.advance(batch.payout_batch_id)
            total = len(batch.item_ids)
            total_pages = max(1, -(-total // page_size))
            page_ids = batch.item_ids[(page - 1) * page_size : page * page_size]
            base = f"/v1/payments/payouts/{batch.payout_batch_id}"
            links = [self.state.link(f"{base}?page_size={page_size}&page={page}", "self")]
            if page < total_pages:
                links.append(
                    self.state.link(f"{base}?page_size={page_size}&page={page + 1}", "next")
                )
            if page > 1:
                links.append(
                    self.state.link(f"{base}?page_size={page_size}&page={page - 1}", "previous")
                )
            answer: dict[str, Any] = {
                "batch_header": self.state.batch_header(batch),
                "items": [
                    self.state.item_body(self.state.items[i], with_sender_batch_id=False)
                    for i in page_ids
                ],
                "links": links,
            }
            if query.get("total_required") == "true":
                answer["total_items"] = total
                answer["total_pages"] = total_pages
        self._after_accept(fault)
        return 200, answer, {}

    def _get_item(
        self, path: str, record: dict[str, Any], body: Any, params: dict[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        fault = self._fault("get_item")
        self._check_contract("GET", path, record, body)
        with self.state.lock:
            item = self.state.items.get(params["payout_item_id"])
            if item is None:
                raise _error(404, "INVALID_RESOURCE_ID", "Requested resource ID was not found.")
            answer = self.state.item_body(item, with_sender_batch_id=True)
        self._after_accept(fault)
        return 200, answer, {}

    def _cancel_item(
        self, path: str, record: dict[str, Any], body: Any, params: dict[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        fault = self._fault("cancel_item")
        self._check_contract("POST", path, record, body)
        with self.state.lock:
            item = self.state.items.get(params["payout_item_id"])
            if item is None:
                raise _error(404, "INVALID_RESOURCE_ID", "Requested resource ID was not found.")
            if item.transaction_status != "UNCLAIMED":
                raise _error(
                    400,
                    "ITEM_ALREADY_CANCELLED"
                    if item.transaction_status == "RETURNED"
                    else "ITEM_CANCELLATION_FAILED",
                    f"Only an UNCLAIMED payout item can be cancelled; this one is "
                    f"{item.transaction_status}.",
                )
            item.transaction_status = "RETURNED"
            item.time_processed = _now()
            self.state.emit_item_event(item, "PAYMENT.PAYOUTS-ITEM.CANCELED")
            answer = self.state.item_body(item, with_sender_batch_id=True)
        self._after_accept(fault)
        return 200, answer, {}

    def _verify(
        self, path: str, record: dict[str, Any], body: Any, params: dict[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        fault = self._fault("verify")
        self._check_contract("POST", path, record, body)
        verified = self.state.verify(body)
        self._after_accept(fault)
        return 200, {"verification_status": "SUCCESS" if verified else "FAILURE"}, {}

    def _control(
        self, method: str, path: str, raw: bytes
    ) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        state = self.state
        body = self._json(raw) if raw else {}
        if method == "GET" and path == "/_fake/state":
            return 200, state.snapshot(), {}
        if method == "POST" and path == "/_fake/reset":
            state.reset()
            return 204, None, {}
        if method == "POST" and path == "/_fake/revoke-tokens":
            with state.lock:
                state.tokens.clear()
            return 204, None, {}
        if method == "POST" and path == "/_fake/outcomes":
            status = str(body.get("status", "")).upper()
            if status not in ITEM_OUTCOMES or not body.get("receiver"):
                raise _Reply(400, {"error": f"receiver and a status of {ITEM_OUTCOMES} required"})
            with state.lock:
                state.outcomes[str(body["receiver"]).lower()] = status
            return 204, None, {}
        if method == "POST" and path == "/_fake/faults":
            try:
                fault = _make_fault(
                    body.get("operation"), body.get("kind"), body.get("times", 1), body
                )
            except ValueError as exc:
                raise _Reply(400, {"error": str(exc)})
            with state.lock:
                state.faults.append(fault)
            return 204, None, {}
        match = re.fullmatch(r"/_fake/batches/([A-Z0-9]+)/advance", path)
        if method == "POST" and match and match.group(1) in state.batches:
            state.advance(match.group(1))
            deliver_pending(state)
            return 200, {"batch_status": state.batches[match.group(1)].batch_status}, {}
        match = re.fullmatch(r"/_fake/items/([A-Z0-9]+)/expire", path)
        if method == "POST" and match and match.group(1) in state.items:
            try:
                state.expire_unclaimed(match.group(1))
            except ValueError as exc:
                raise _Reply(400, {"error": str(exc)})
            deliver_pending(state)
            return 200, {"transaction_status": "RETURNED"}, {}
        raise _Reply(404, {"error": "unknown control endpoint"})


class _Hangup(Exception):
    """Close the connection without an answer."""


def _make_fault(operation: Any, kind: Any, times: Any, extra: dict[str, Any]) -> Fault:
    if operation not in OPERATIONS:
        raise ValueError(f"operation must be one of {OPERATIONS}")
    if kind not in FAULT_KINDS:
        raise ValueError(f"kind must be one of {FAULT_KINDS}")
    if not isinstance(times, int) or times < 1:
        raise ValueError("times must be a positive integer")
    retry_after = extra.get("retry_after", 1)
    if not isinstance(retry_after, int) or retry_after < 0:
        raise ValueError("retry_after must be a non-negative integer")
    return Fault(operation=operation, kind=kind, times=times, retry_after=retry_after)


def deliver_pending(state: FakeState, *, timeout: float = 5.0) -> None:
    """POST every not yet delivered event to the webhook URL (no-op without one)."""
    url = state.webhook_url
    if not url:
        return
    with state.delivery_lock:
        with state.lock:
            pending = [
                r for r in state.events if r.delivered_status is None and not r.delivery_error
            ]
        for record in pending:
            _post_event(url, record, timeout)


def _post_event(url: str, record: FakeEvent, timeout: float) -> None:
    request = urllib.request.Request(  # noqa: S310 - the operator's own listener URL
        url, data=record.body, headers=record.headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            record.delivered_status = response.status
    except urllib.error.HTTPError as exc:
        record.delivered_status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        record.delivery_error = type(exc).__name__


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


class FakePayPal:
    """The fake on a free loopback port in a background thread; a context manager.

    ``deliver_webhooks=True`` posts events to ``webhook_url`` from a background thread as they
    happen; ``flush_webhooks()`` waits until every event so far was posted.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        webhook_id: str = DEFAULT_WEBHOOK_ID,
        webhook_url: str | None = None,
        token_ttl: int = 32400,
        hang_seconds: float = 2.0,
        deliver_webhooks: bool = True,
    ) -> None:
        self.state = FakeState(
            client_id=client_id,
            client_secret=client_secret,
            webhook_id=webhook_id,
            webhook_url=webhook_url,
            token_ttl=token_ttl,
            hang_seconds=hang_seconds,
        )
        self._stop = threading.Event()
        handler = type(
            "FakePayPalHandler", (_Handler,), {"state": self.state, "stop_event": self._stop}
        )
        self._server = _Server((host, port), handler)
        self.host, self.port = self._server.server_address[:2]  # type: ignore[misc]
        self.base_url = f"http://{self.host}:{self.port}"
        self.state.base_url = self.base_url
        self._thread: threading.Thread | None = None
        self._deliver = deliver_webhooks
        self._delivery_thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> FakePayPal:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        if self._deliver and self.state.webhook_url:
            self._delivery_thread = threading.Thread(target=self._delivery_loop, daemon=True)
            self._delivery_thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        if self._delivery_thread:
            self._delivery_thread.join(timeout=10)
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakePayPal:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _delivery_loop(self) -> None:
        while not self._stop.wait(0.05):
            deliver_pending(self.state)

    def flush_webhooks(self) -> None:
        deliver_pending(self.state)

    # -- state, for tests -----------------------------------------------------------------------

    @property
    def client_id(self) -> str:
        return self.state.client_id

    @property
    def client_secret(self) -> str:
        return self.state.client_secret

    @property
    def webhook_id(self) -> str:
        return self.state.webhook_id

    @property
    def batches(self) -> dict[str, FakeBatch]:
        return self.state.batches

    @property
    def items(self) -> dict[str, FakeItem]:
        return self.state.items

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.state.requests

    @property
    def events(self) -> list[FakeEvent]:
        return self.state.events

    def batch_for(self, sender_batch_id: str) -> FakeBatch | None:
        with self.state.lock:
            payout_batch_id = self.state.batch_by_sender_id.get(sender_batch_id)
            return self.state.batches.get(payout_batch_id) if payout_batch_id else None

    def script_outcome(self, receiver: str, status: str) -> None:
        status = status.upper()
        if status not in ITEM_OUTCOMES:
            raise ValueError(f"status must be one of {ITEM_OUTCOMES}")
        with self.state.lock:
            self.state.outcomes[receiver.lower()] = status

    def inject(self, operation: str, kind: str, *, times: int = 1, retry_after: int = 1) -> None:
        fault = _make_fault(operation, kind, times, {"retry_after": retry_after})
        with self.state.lock:
            self.state.faults.append(fault)

    def advance(self, payout_batch_id: str) -> None:
        self.state.advance(payout_batch_id)

    def settle(self, payout_batch_id: str) -> None:
        self.state.settle(payout_batch_id)

    def expire_unclaimed(self, payout_item_id: str) -> None:
        self.state.expire_unclaimed(payout_item_id)

    def revoke_tokens(self) -> None:
        with self.state.lock:
            self.state.tokens.clear()

    def reset(self) -> None:
        self.state.reset()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A local fake of PayPal's Payouts API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    parser.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
    parser.add_argument("--webhook-id", default=DEFAULT_WEBHOOK_ID)
    parser.add_argument("--webhook-url", default=None, help="where to POST webhook events")
    parser.add_argument("--hang-seconds", type=float, default=40.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    fake = FakePayPal(
        host=args.host,
        port=args.port,
        client_id=args.client_id,
        client_secret=args.client_secret,
        webhook_id=args.webhook_id,
        webhook_url=args.webhook_url,
        hang_seconds=args.hang_seconds,
    )
    fake.start()
    print(f"Fake PayPal listening on {fake.base_url} (webhook id {fake.webhook_id})", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
