"""PayPal Payouts adapter: the only code in KanGrow that talks to PayPal.

Every call has explicit connect/read timeouts, sends a `PayPal-Request-Id`, and is retried with
exponential backoff only on network errors, timeouts, 5xx and 429 (honouring `Retry-After`); a
4xx other than 429 is answered at once with a typed error (see `errors.py`). The OAuth2
client-credentials token is cached until shortly before it expires and refreshed once when PayPal
answers 401. Logs carry ids only: never the client secret, a token or a receiver's email.

Did PayPal get my batch? (exactly-once payouts)
-----------------------------------------------
PayPal has no "GET batch by sender_batch_id", but it refuses a second batch with a
`sender_batch_id` used in the last 30 days and links the refusal to the original batch. The caller
therefore resolves every uncertain submission with the SAME id, never a new one:

1. Commit the run's `sender_batch_id` and every item's `sender_item_id` before calling.
2. `create_batch(...)` returns a `BatchResult`: store its `payout_batch_id`; poll with
   `get_batch` (or wait for webhooks) until the items settle.
3. `PayPalUnavailable` (timeouts / 5xx / network until retries ran out): the batch may or may not
   exist. Keep it as "unknown" and later call `resolve_batch(...)` with the same id and items.
4. `resolve_batch(...)` re-sends the same `sender_batch_id` (the same items, the same
   `PayPal-Request-Id`). If PayPal never got the batch it is created now (`BatchResult`); if it
   did, PayPal answers with the duplicate error, returned as `BatchLookup(exists=True,
   payout_batch_id=...)`: mark the batch "submitted, awaiting webhook/poll" (`payout_batch_id` is
   filled in when PayPal's answer links to the original; otherwise the first webhook or poll that
   mentions our `sender_batch_id` supplies it).
5. `DuplicateBatchError` from `create_batch` means the same thing as 4: PayPal already has it.

A batch is therefore paid at most once, whatever fails between our commit and PayPal's answer.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from kangrow.core.money import Money, normalize_currency

from .errors import (
    DuplicateBatchError,
    PayPalAuthError,
    PayPalError,
    PayPalNotFound,
    PayPalUnavailable,
    PayPalValidationError,
    parse_error_body,
)
from .types import ITEM_RETURNED, BatchResult, ItemResult, PayoutItem

logger = logging.getLogger("kangrow.integrations.paypal")

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=5.0)
MAX_BATCH_ITEMS = 15_000  # create_payout_request.items.maxItems
MAX_PAGE_SIZE = 1000  # parameters.page_size.maximum
TOKEN_PATH = "/v1/oauth2/token"

# PayPal's string fields are constrained by the pattern "^.*$": no line breaks (ECMA `.`).
_LINE_BREAKS = re.compile("[\n\r\u2028\u2029\x00]")
_PAYPAL_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")  # parameters.payout_item_id: 1..32
_BATCH_LINK = re.compile(r"/v1/payments/payouts/([A-Za-z0-9_-]{1,30})(?:[/?#]|$)")
_VERIFY_PATTERNS = {  # verify_webhook_signature's field constraints, checked before sending
    "auth_algo": re.compile(r"^[a-zA-Z0-9]{1,100}$"),
    "transmission_id": re.compile(r"^(?!\d+$)\w+\S+$"),
    "transmission_sig": re.compile(r"^(?!\d+$)\w+\S+$"),
}


class _Transient(Exception):
    """A failure worth retrying: network error, timeout, 5xx or 429."""

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        name: str = "",
        debug_id: str = "",
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after
        self.name = name
        self.debug_id = debug_id


@dataclass(frozen=True, slots=True)
class BatchLookup:
    """Answer to "did PayPal get my batch?" (see the module docstring)."""

    exists: bool
    sender_batch_id: str
    payout_batch_id: str | None
    created_now: BatchResult | None = None


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _check_text(name: str, value: str, *, max_length: int, required: bool = True) -> None:
    if not isinstance(value, str):
        raise PayPalValidationError(f"{name} must be a string", name="CLIENT_VALIDATION")
    if required and not value:
        raise PayPalValidationError(f"{name} is required", name="CLIENT_VALIDATION")
    if len(value) > max_length:
        raise PayPalValidationError(
            f"{name} is longer than {max_length} characters", name="CLIENT_VALIDATION"
        )
    if _LINE_BREAKS.search(value):
        raise PayPalValidationError(
            f"{name} contains a line break or NUL character", name="CLIENT_VALIDATION"
        )


def _check_paypal_id(name: str, value: str) -> str:
    if not isinstance(value, str) or not _PAYPAL_ID.match(value):
        raise PayPalValidationError(f"{name} is not a PayPal id", name="CLIENT_VALIDATION")
    return quote(value, safe="")


class PayPalClient:
    """A PayPal REST client for Payouts and webhook verification. Safe to share between threads."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        max_retries: int = 4,
        transport: httpx.BaseTransport | None = None,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        token_margin: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not base_url:
            raise ValueError("PayPal base URL is required")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if not isinstance(timeout, httpx.Timeout):
            timeout = httpx.Timeout(timeout)
        self.base_url = base_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self.max_retries = max_retries
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._sleep = sleep
        self._token_margin = token_margin
        self._clock = clock
        self._token: str | None = None
        self._token_expires_at = 0.0
        self._token_lock = threading.Lock()
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "KanGrow-PayPal/1"},
            follow_redirects=False,
        )

    def __repr__(self) -> str:  # never show the secret
        return f"PayPalClient(base_url={self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PayPalClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- operations ---------------------------------------------------------------------------

    def create_batch(
        self,
        *,
        sender_batch_id: str,
        items: Iterable[PayoutItem],
        email_subject: str,
        email_message: str,
    ) -> BatchResult:
        """POST /v1/payments/payouts. Raises DuplicateBatchError when PayPal already has the id."""
        items = list(items)
        body = self._batch_body(sender_batch_id, items, email_subject, email_message)
        data = self._call(
            "POST",
            "/v1/payments/payouts",
            json_body=body,
            request_id=sender_batch_id,
            sender_batch_id=sender_batch_id,
        )
        with _unexpected_shape("create batch"):
            result = BatchResult.from_header(data["batch_header"])
        logger.info(
            "paypal batch created sender_batch_id=%s payout_batch_id=%s status=%s items=%d",
            sender_batch_id,
            result.payout_batch_id,
            result.batch_status,
            len(items),
        )
        return result

    def resolve_batch(
        self,
        *,
        sender_batch_id: str,
        items: Iterable[PayoutItem],
        email_subject: str,
        email_message: str,
    ) -> BatchLookup:
        """Did PayPal get this batch? Re-sends the SAME sender_batch_id and reads the answer.

        Creates the batch if PayPal never received it; otherwise PayPal's duplicate answer is the
        proof that it exists. Raises PayPalUnavailable while PayPal cannot be reached.
        """
        try:
            created = self.create_batch(
                sender_batch_id=sender_batch_id,
                items=items,
                email_subject=email_subject,
                email_message=email_message,
            )
        except DuplicateBatchError as exc:
            return BatchLookup(
                exists=True, sender_batch_id=sender_batch_id, payout_batch_id=exc.payout_batch_id
            )
        return BatchLookup(
            exists=True,
            sender_batch_id=sender_batch_id,
            payout_batch_id=created.payout_batch_id,
            created_now=created,
        )

    def get_batch(
        self, payout_batch_id: str, *, page: int = 1, page_size: int = MAX_PAGE_SIZE
    ) -> BatchResult:
        """GET /v1/payments/payouts/{id}, following the pages from `page` on: every item."""
        batch_id = _check_paypal_id("payout_batch_id", payout_batch_id)
        if not 1 <= page <= 1000 or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise PayPalValidationError("page or page_size out of range", name="CLIENT_VALIDATION")
        request_id = f"get-{payout_batch_id}-{uuid.uuid4().hex}"
        items: list[ItemResult] = []
        header: dict[str, Any] = {}
        total_items: int | None = None
        while True:
            data = self._call(
                "GET",
                f"/v1/payments/payouts/{batch_id}",
                params={"page": str(page), "page_size": str(page_size), "total_required": "true"},
                request_id=f"{request_id}-{page}",
            )
            with _unexpected_shape("get batch"):
                header = data["batch_header"]
                page_items = data.get("items") or []
                items.extend(ItemResult.from_api(item) for item in page_items)
            total_items = data.get("total_items", total_items)
            total_pages = data.get("total_pages")
            has_next = any(
                isinstance(link, dict) and link.get("rel") == "next"
                for link in data.get("links") or []
            )
            more = page < total_pages if isinstance(total_pages, int) else has_next
            if not more or not page_items or page >= 1000:
                break
            page += 1
        with _unexpected_shape("get batch"):
            return BatchResult.from_header(header, items=tuple(items), total_items=total_items)

    def get_item(self, payout_item_id: str) -> ItemResult:
        """GET /v1/payments/payouts-item/{payout_item_id}."""
        item_id = _check_paypal_id("payout_item_id", payout_item_id)
        data = self._call(
            "GET",
            f"/v1/payments/payouts-item/{item_id}",
            request_id=f"get-{payout_item_id}-{uuid.uuid4().hex}",
        )
        with _unexpected_shape("get item"):
            return ItemResult.from_api(data)

    def cancel_unclaimed_item(self, payout_item_id: str) -> ItemResult:
        """POST /v1/payments/payouts-item/{id}/cancel: UNCLAIMED → RETURNED (money comes back)."""
        item_id = _check_paypal_id("payout_item_id", payout_item_id)
        try:
            data = self._call(
                "POST",
                f"/v1/payments/payouts-item/{item_id}/cancel",
                request_id=f"cancel-{payout_item_id}",
            )
        except PayPalValidationError:
            # Refused: maybe because an earlier attempt (whose answer was lost) already cancelled
            # it. Cancelling is idempotent for the caller: a RETURNED item is the wanted outcome.
            current = self.get_item(payout_item_id)
            if current.transaction_status == ITEM_RETURNED:
                return current
            raise
        with _unexpected_shape("cancel item"):
            result = ItemResult.from_api(data)
        logger.info(
            "paypal item cancelled payout_item_id=%s status=%s",
            payout_item_id,
            result.transaction_status,
        )
        return result

    def verify_webhook_signature(
        self, *, headers: Mapping[str, str], event_body: bytes | str, webhook_id: str
    ) -> bool:
        """Ask PayPal whether a webhook delivery is genuine. False for anything malformed.

        `event_body` is the raw request body: it is passed on byte for byte (re-serialising the
        event could change what PayPal checks).
        """
        lowered = {str(key).lower(): str(value) for key, value in headers.items()}
        fields = {
            "auth_algo": lowered.get("paypal-auth-algo", ""),
            "cert_url": lowered.get("paypal-cert-url", ""),
            "transmission_id": lowered.get("paypal-transmission-id", ""),
            "transmission_sig": lowered.get("paypal-transmission-sig", ""),
            "transmission_time": lowered.get("paypal-transmission-time", ""),
            "webhook_id": webhook_id,
        }
        if not self._verify_fields_ok(fields):
            logger.warning("paypal webhook rejected before verification: malformed headers")
            return False
        raw = event_body.decode("utf-8", "strict") if isinstance(event_body, bytes) else event_body
        try:
            event = json.loads(raw)
        except ValueError:
            logger.warning("paypal webhook rejected before verification: body is not JSON")
            return False
        if not isinstance(event, dict) or "\x00" in raw:
            return False
        head = json.dumps(fields, separators=(",", ":"))
        content = (head[:-1] + ',"webhook_event":' + raw.strip() + "}").encode("utf-8")
        data = self._call(
            "POST",
            "/v1/notifications/verify-webhook-signature",
            content=content,
            # A replayed transmission id with another body must not match a cached answer.
            request_id=f"verify-{fields['transmission_id']}-{hashlib.sha256(content).hexdigest()[:32]}",
        )
        verified = data.get("verification_status") == "SUCCESS"
        logger.info(
            "paypal webhook verification transmission_id=%s event_id=%s verified=%s",
            fields["transmission_id"],
            event.get("id"),
            verified,
        )
        return verified

    @staticmethod
    def _verify_fields_ok(fields: dict[str, str]) -> bool:
        if any(not value or _LINE_BREAKS.search(value) for value in fields.values()):
            return False
        if not re.fullmatch(r"[a-zA-Z0-9]{1,50}", fields["webhook_id"]):
            return False
        if len(fields["transmission_id"]) > 50 or len(fields["transmission_sig"]) > 500:
            return False
        if len(fields["cert_url"]) > 500 or not re.match(r"^https?://[^\s/]+", fields["cert_url"]):
            return False
        if not re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", fields["transmission_time"]
        ):
            return False
        return all(pattern.match(fields[name]) for name, pattern in _VERIFY_PATTERNS.items())

    # -- request body ---------------------------------------------------------------------------

    @staticmethod
    def _batch_body(
        sender_batch_id: str,
        items: list[PayoutItem],
        email_subject: str,
        email_message: str,
    ) -> dict[str, Any]:
        _check_text("sender_batch_id", sender_batch_id, max_length=256)
        _check_text("email_subject", email_subject, max_length=255, required=False)
        _check_text("email_message", email_message, max_length=1000, required=False)
        if not 1 <= len(items) <= MAX_BATCH_ITEMS:
            raise PayPalValidationError(
                f"a batch holds 1 to {MAX_BATCH_ITEMS} items, not {len(items)}",
                name="CLIENT_VALIDATION",
            )
        seen: set[str] = set()
        payload_items = []
        for item in items:
            _check_text("sender_item_id", item.sender_item_id, max_length=63)
            if item.sender_item_id in seen:
                raise PayPalValidationError(
                    f"sender_item_id {item.sender_item_id} appears twice", name="CLIENT_VALIDATION"
                )
            seen.add(item.sender_item_id)
            _check_text("receiver", item.receiver, max_length=127)
            if "@" not in item.receiver:
                raise PayPalValidationError(
                    f"receiver of {item.sender_item_id} is not an email address",
                    name="CLIENT_VALIDATION",
                )
            _check_text("note", item.note, max_length=4000, required=False)
            if (
                not isinstance(item.amount_minor, int)
                or isinstance(item.amount_minor, bool)
                or item.amount_minor <= 0
            ):
                raise PayPalValidationError(
                    f"amount of {item.sender_item_id} must be a positive integer of minor units",
                    name="CLIENT_VALIDATION",
                )
            try:
                money = Money(item.amount_minor, normalize_currency(item.currency))
            except ValueError as exc:
                raise PayPalValidationError(str(exc), name="CLIENT_VALIDATION")
            entry: dict[str, Any] = {
                "recipient_type": "EMAIL",
                "amount": {"value": money.decimal_string(), "currency": money.currency},
                "receiver": item.receiver,
                "sender_item_id": item.sender_item_id,
            }
            if item.note:
                entry["note"] = item.note
            payload_items.append(entry)
        header: dict[str, Any] = {"sender_batch_id": sender_batch_id, "recipient_type": "EMAIL"}
        if email_subject:
            header["email_subject"] = email_subject
        if email_message:
            header["email_message"] = email_message
        return {"sender_batch_header": header, "items": payload_items}

    # -- transport --------------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        content: bytes | None = None,
        params: dict[str, str] | None = None,
        request_id: str,
        sender_batch_id: str | None = None,
    ) -> dict[str, Any]:
        """One logical request: retried on transient failures with the same PayPal-Request-Id."""
        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception_type(_Transient),
            sleep=self._sleep,
            reraise=True,
        )
        attempts = 0
        try:
            for attempt in retrying:
                with attempt:
                    attempts += 1
                    return self._send_authorized(
                        method,
                        path,
                        json_body=json_body,
                        content=content,
                        params=params,
                        request_id=request_id,
                        sender_batch_id=sender_batch_id,
                        attempt=attempts,
                    )
        except _Transient as exc:
            logger.warning(
                "paypal unavailable %s %s after %d attempts: %s request_id=%s",
                method,
                path,
                attempts,
                exc.reason,
                request_id,
            )
            raise PayPalUnavailable(
                f"PayPal did not answer {method} {path}: {exc.reason}",
                attempts=attempts,
                status=exc.status,
                name=exc.name,
                debug_id=exc.debug_id,
                request_id=request_id,
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Transient) and exc.retry_after is not None:
            return min(exc.retry_after, self._max_backoff)
        delay = self._backoff * (2 ** (state.attempt_number - 1))
        jitter = random.uniform(0, self._backoff) if self._backoff else 0.0
        return min(delay + jitter, self._max_backoff)

    def _send_authorized(
        self,
        method: str,
        path: str,
        *,
        json_body: Any,
        content: bytes | None,
        params: dict[str, str] | None,
        request_id: str,
        sender_batch_id: str | None,
        attempt: int,
    ) -> dict[str, Any]:
        token = self._access_token()
        response = self._send(
            method, path, token, json_body, content, params, request_id, attempt=attempt
        )
        if response.status_code == 401:
            # The token was revoked or expired early: one fresh token, one more try.
            self._invalidate_token(token)
            token = self._access_token()
            response = self._send(
                method, path, token, json_body, content, params, request_id, attempt=attempt
            )
            if response.status_code == 401:
                parsed = parse_error_body(_json_or_none(response))
                raise PayPalAuthError(
                    "PayPal refused the access token",
                    status=401,
                    name=parsed.name,
                    debug_id=parsed.debug_id,
                    request_id=request_id,
                )
        return self._handle(response, request_id=request_id, sender_batch_id=sender_batch_id)

    def _send(
        self,
        method: str,
        path: str,
        token: str,
        json_body: Any,
        content: bytes | None,
        params: dict[str, str] | None,
        request_id: str,
        *,
        attempt: int,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}", "PayPal-Request-Id": request_id}
        if json_body is not None or content is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = self._http.request(
                method, path, json=json_body, content=content, params=params, headers=headers
            )
        except httpx.TransportError as exc:
            reason = f"{type(exc).__name__}"
            logger.warning(
                "paypal %s %s failed (%s) attempt=%d request_id=%s",
                method,
                path,
                reason,
                attempt,
                request_id,
            )
            raise _Transient(reason)
        logger.info(
            "paypal %s %s -> %d attempt=%d request_id=%s debug_id=%s",
            method,
            path,
            response.status_code,
            attempt,
            request_id,
            response.headers.get("paypal-debug-id", ""),
        )
        return response

    def _handle(
        self, response: httpx.Response, *, request_id: str, sender_batch_id: str | None
    ) -> dict[str, Any]:
        status = response.status_code
        body = _json_or_none(response)
        if 200 <= status < 300:
            return body if isinstance(body, dict) else {}
        parsed = parse_error_body(body)
        common = {
            "status": status,
            "name": parsed.name,
            "debug_id": parsed.debug_id,
            "details": parsed.details,
            "request_id": request_id,
        }
        if status == 429 or status >= 500:
            raise _Transient(
                f"HTTP {status}",
                status=status,
                retry_after=_retry_after_seconds(response.headers.get("retry-after"))
                if status == 429
                else None,
                name=parsed.name,
                debug_id=parsed.debug_id,
            )
        if sender_batch_id is not None and _is_duplicate_batch(status, parsed):
            payout_batch_id = None
            for href in parsed.hrefs:
                match = _BATCH_LINK.search(href)
                if match:
                    payout_batch_id = match.group(1)
                    break
            raise DuplicateBatchError(
                f"sender_batch_id {sender_batch_id} was already used",
                sender_batch_id=sender_batch_id,
                payout_batch_id=payout_batch_id,
                **common,  # type: ignore[arg-type]
            )
        message = parsed.message or f"PayPal answered HTTP {status}"
        if status == 404:
            raise PayPalNotFound(message, **common)  # type: ignore[arg-type]
        if status in (400, 422):
            raise PayPalValidationError(message, **common)  # type: ignore[arg-type]
        raise PayPalError(message, **common)  # type: ignore[arg-type]

    # -- OAuth2 ---------------------------------------------------------------------------------

    def _access_token(self) -> str:
        with self._token_lock:
            if self._token is not None and self._clock() < self._token_expires_at:
                return self._token
            try:
                response = self._http.post(
                    TOKEN_PATH,
                    data={"grant_type": "client_credentials"},
                    auth=(self._client_id, self._client_secret),
                    headers={"PayPal-Request-Id": f"token-{uuid.uuid4().hex}"},
                )
            except httpx.TransportError as exc:
                raise _Transient(f"token request failed: {type(exc).__name__}")
            body = _json_or_none(response)
            if response.status_code == 429 or response.status_code >= 500:
                raise _Transient(
                    f"token request HTTP {response.status_code}",
                    status=response.status_code,
                    retry_after=_retry_after_seconds(response.headers.get("retry-after")),
                )
            token = body.get("access_token") if isinstance(body, dict) else None
            if response.status_code != 200 or not isinstance(token, str) or not token:
                parsed = parse_error_body(body)
                logger.error("paypal token refused: HTTP %d %s", response.status_code, parsed.name)
                raise PayPalAuthError(
                    "PayPal refused the client credentials",
                    status=response.status_code,
                    name=parsed.name,
                    debug_id=parsed.debug_id,
                )
            try:
                expires_in = float(body.get("expires_in", 0))
            except (TypeError, ValueError):
                expires_in = 0.0
            margin = min(self._token_margin, expires_in / 10)
            self._token = token
            self._token_expires_at = self._clock() + expires_in - margin
            logger.info("paypal token obtained, valid for %ds", int(expires_in))
            return token

    def _invalidate_token(self, token: str) -> None:
        with self._token_lock:
            if self._token == token:
                self._token = None
                self._token_expires_at = 0.0


@contextmanager
def _unexpected_shape(operation: str) -> Iterator[None]:
    """A 2xx answer we cannot read is PayPal's fault, not a crash: a typed PayPalError."""
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        logger.error("paypal %s answer has an unexpected shape: %s", operation, type(exc).__name__)
        raise PayPalError(
            f"PayPal's {operation} answer has an unexpected shape", name="BAD_RESPONSE"
        )


def _is_duplicate_batch(status: int, parsed: Any) -> bool:
    if status not in (400, 409, 422):
        return False
    if parsed.name in ("DUPLICATE_REQUEST_ID", "DUPLICATE_SENDER_BATCH_ID"):
        return True
    # PayPal: 400 USER_BUSINESS_ERROR, details [{"field": "SENDER_BATCH_ID", "issue": "Duplicate
    # batch request" / "Batch with given sender_batch_id already exists"}], linking the original.
    if parsed.name == "USER_BUSINESS_ERROR" and any(
        d.field.upper() == "SENDER_BATCH_ID" for d in parsed.details
    ):
        return True
    texts = [parsed.message] + [f"{d.field} {d.issue}" for d in parsed.details]
    for text in texts:
        lowered = text.lower()
        if "sender_batch_id" in lowered and ("already" in lowered or "duplicate" in lowered):
            return True
    return False


def get_client(**overrides: Any) -> PayPalClient:
    """The client configured by PAYPAL_API_BASE / PAYPAL_CLIENT_ID / PAYPAL_CLIENT_SECRET."""
    from django.conf import settings

    if not settings.PAYPAL_CLIENT_ID or not settings.PAYPAL_CLIENT_SECRET:
        raise PayPalAuthError(
            "PayPal is not configured: set PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET",
            name="NOT_CONFIGURED",
        )
    return PayPalClient(
        settings.PAYPAL_API_BASE,
        settings.PAYPAL_CLIENT_ID,
        settings.PAYPAL_CLIENT_SECRET,
        **overrides,
    )


__all__ = ["BatchLookup", "PayPalClient", "PayPalError", "get_client"]
