"""Typed PayPal failures. Callers decide by type, never by parsing messages.

- `PayPalValidationError`: the request was refused as malformed (400/422, or refused locally before
  sending). Nothing was created; fix the input, do not retry as is.
- `DuplicateBatchError`: the `sender_batch_id` was already used. PayPal HAS the batch; this is the
  signal that resolves an "unknown" submission (see `client.py`). `payout_batch_id` is set when
  PayPal's answer links to the original batch.
- `PayPalUnavailable`: network errors, timeouts, 5xx or 429 until the retries ran out. The outcome
  of a write is UNKNOWN: keep the same `sender_batch_id` and resolve later; never re-send the items
  under a new id.
- `PayPalAuthError`: PayPal refused our credentials (401 even after one fresh token).
- `PayPalNotFound`: 404 for a batch or item id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    issue: str
    field: str = ""
    value: str = ""
    location: str = ""


class PayPalError(Exception):
    """Base of every PayPal failure. Carries ids and names only, never secrets or emails."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        name: str = "",
        debug_id: str = "",
        details: tuple[ErrorDetail, ...] = (),
        request_id: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.name = name
        self.debug_id = debug_id
        self.details = details
        self.request_id = request_id

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"status={self.status}")
        if self.name:
            parts.append(f"name={self.name}")
        if self.debug_id:
            parts.append(f"debug_id={self.debug_id}")
        return " ".join(parts)


class PayPalValidationError(PayPalError):
    """PayPal (or our own pre-flight check) refused the request as invalid; nothing was created."""


class PayPalNotFound(PayPalError):
    """No such batch or item at PayPal."""


class PayPalAuthError(PayPalError):
    """Client id/secret refused, or a fresh token refused again."""


class DuplicateBatchError(PayPalError):
    """PayPal already has a batch with this sender_batch_id: it will not pay it twice."""

    def __init__(
        self, message: str, *, sender_batch_id: str, payout_batch_id: str | None, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.sender_batch_id = sender_batch_id
        self.payout_batch_id = payout_batch_id


class PayPalUnavailable(PayPalError):
    """Retries exhausted on network errors, timeouts, 5xx or 429: the outcome is unknown."""

    def __init__(self, message: str, *, attempts: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.attempts = attempts


@dataclass(frozen=True, slots=True)
class ParsedError:
    """PayPal's error body (`components/schemas/error`), leniently read."""

    name: str = ""
    message: str = ""
    debug_id: str = ""
    details: tuple[ErrorDetail, ...] = ()
    hrefs: tuple[str, ...] = field(default=())


def parse_error_body(body: Any) -> ParsedError:
    if not isinstance(body, dict):
        return ParsedError()
    details = []
    hrefs = []
    for link in body.get("links") or []:
        if isinstance(link, dict) and isinstance(link.get("href"), str):
            hrefs.append(link["href"])
    for raw in body.get("details") or []:
        if not isinstance(raw, dict):
            continue
        details.append(
            ErrorDetail(
                issue=str(raw.get("issue", "")),
                field=str(raw.get("field", "")),
                value=str(raw.get("value", "")),
                location=str(raw.get("location", "")),
            )
        )
        # PayPal has put the link to the original batch inside the detail as well ("link"/"links").
        for key in ("link", "links"):
            for link in raw.get(key) or []:
                if isinstance(link, dict) and isinstance(link.get("href"), str):
                    hrefs.append(link["href"])
    return ParsedError(
        name=str(body.get("name", body.get("error", ""))),
        message=str(body.get("message", body.get("error_description", ""))),
        debug_id=str(body.get("debug_id", "")),
        details=tuple(details),
        hrefs=tuple(hrefs),
    )
