"""POST /api/v1/events: signed money events from the Payments API (Standard Webhooks).

Parse and verify here, then one call to `ledger.api.ingest_event`; processing happens after
commit. Every refusal is a 4xx JSON error {"error": {"code", "message", "details"}} and writes
nothing. A repeated `webhook-id` answers 200 and changes nothing.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any, Literal

from django.http import HttpRequest, JsonResponse
from ninja import Router
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)
from standardwebhooks.webhooks import Webhook

from kangrow.core.money import normalize_currency
from kangrow.ledger import api as ledger_api
from kangrow.programs import api as programs_api

from .base import ApiError

router = Router(tags=["events"])

TOLERANCE_SECONDS = 5 * 60
MAX_BODY_BYTES = 64 * 1024
MAX_AMOUNT = 10**15

Id = Field(min_length=1, max_length=255)


class EventData(BaseModel):
    """The `data` object of a money event. Unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    app: StrictStr = Field(min_length=1, max_length=64)
    customer_id: StrictStr = Id
    customer_email: StrictStr | None = Field(default=None, max_length=254)
    subscription_id: StrictStr | None = Field(default=None, max_length=255)
    invoice_id: StrictStr | None = Field(default=None, max_length=255)
    amount: StrictInt | None = Field(default=None, ge=0, le=MAX_AMOUNT)
    currency: StrictStr | None = None
    coupon: StrictStr | None = Field(default=None, max_length=64)
    ref: StrictStr | None = Field(default=None, max_length=64)
    occurred_at: AwareDatetime | None = None

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        return None if value is None else normalize_currency(value)

    @field_validator("customer_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        local, at, domain = value.partition("@")
        if not (local and at and "." in domain):
            raise ValueError("is not an email address")
        return value


class EventBody(BaseModel):
    """A money event: {"type": ..., "data": {...}}."""

    model_config = ConfigDict(extra="ignore")

    type: Literal[
        "customer.created",
        "subscription.created",
        "invoice.paid",
        "invoice.refunded",
        "subscription.cancelled",
    ]
    data: EventData

    @model_validator(mode="after")
    def _required_by_type(self) -> EventBody:
        data = self.data
        if self.type in ("invoice.paid", "invoice.refunded"):
            missing = [f for f in ("invoice_id", "amount", "currency") if getattr(data, f) is None]
            if missing:
                raise ValueError(f"{self.type} needs {', '.join(missing)}")
        if self.type == "invoice.refunded" and data.amount == 0:
            raise ValueError("invoice.refunded needs a positive amount")
        return self


def _inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with its $defs inlined (valid inside an OpenAPI document)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _verify_timestamp(raw: str) -> datetime:
    try:
        seconds = int(raw)
    except (TypeError, ValueError):
        raise ApiError(401, "bad_signature", "The webhook-timestamp header is not a Unix time.")
    if abs(time.time() - seconds) > TOLERANCE_SECONDS:
        raise ApiError(
            401,
            "stale_timestamp",
            "The webhook-timestamp is more than 5 minutes away from now; sign and send again.",
            {"tolerance_seconds": TOLERANCE_SECONDS},
        )
    return datetime.fromtimestamp(seconds, tz=UTC)


def _signature_matches(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    try:
        Webhook(secret).verify(body.decode("utf-8"), headers, json_parse=False)
    except Exception:  # wrong secret, malformed signature list, bad base64: all the same to us
        return False
    return True


def _verify_signature(secret: str, body: bytes, headers: dict[str, str]) -> None:
    if not _signature_matches(secret, body, headers):
        raise ApiError(401, "bad_signature", "The webhook-signature does not match this app.")


def _errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": ".".join(str(p) for p in err["loc"]), "msg": err["msg"], "type": err["type"]}
        for err in exc.errors()
    ]


@router.post(
    "",
    summary="Receive a signed money event",
    auth=None,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _inline_schema(EventBody)}},
        },
        "responses": {
            "200": {"description": "A repeat of a webhook-id already received; nothing changed."},
            "202": {"description": "Stored; processed after commit."},
            "400": {"description": "invalid_body"},
            "401": {"description": "bad_signature or stale_timestamp"},
            "404": {"description": "unknown_app"},
            "422": {"description": "invalid_body or unknown_coupon"},
        },
    },
)
def receive_event(request: HttpRequest) -> JsonResponse:
    msg_id = request.headers.get("webhook-id", "")
    timestamp_raw = request.headers.get("webhook-timestamp", "")
    signature = request.headers.get("webhook-signature", "")
    if not (msg_id and timestamp_raw and signature):
        raise ApiError(
            401,
            "bad_signature",
            "Missing Standard Webhooks headers (webhook-id, webhook-timestamp, webhook-signature).",
        )
    if len(msg_id) > 255 or "\x00" in msg_id:
        raise ApiError(400, "invalid_body", "The webhook-id header is too long or not text.")
    signed_at = _verify_timestamp(timestamp_raw)

    body = request.body
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(413, "invalid_body", "The body is larger than 64 KiB.")
    try:
        raw = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "invalid_body", "The body is not valid UTF-8 JSON.")
    if _has_nul(raw):
        raise ApiError(400, "invalid_body", "The body contains a NUL character.")
    data_obj = raw.get("data") if isinstance(raw, dict) else None
    app_slug = data_obj.get("app") if isinstance(data_obj, dict) else None
    if not isinstance(app_slug, str) or not app_slug:
        raise ApiError(
            422, "invalid_body", "data.app is required.", [{"loc": "data.app", "msg": "required"}]
        )
    signed = {
        "webhook-id": msg_id,
        "webhook-timestamp": timestamp_raw,
        "webhook-signature": signature,
    }
    app = programs_api.get_app_by_slug(slug=app_slug, cached=True)
    if (
        app is not None
        and app.signing_secret
        and _signature_matches(app.signing_secret, body, signed)
    ):
        pass  # the usual case: no query for the app
    else:  # unknown, or remembered with an old secret: ask the database
        app = programs_api.get_app_by_slug(slug=app_slug)
        if app is None:
            raise ApiError(404, "unknown_app", f"No app with slug {app_slug!r}.")
        if not app.signing_secret:
            raise ApiError(401, "bad_signature", "This app has no signing secret configured.")
        _verify_signature(app.signing_secret, body, signed)

    try:
        event = EventBody.model_validate(raw)
    except ValidationError as exc:
        raise ApiError(422, "invalid_body", "The event body is not valid.", _errors(exc))
    data = event.data
    if data.coupon:
        enrollment = programs_api.get_enrollment_by_coupon(code=data.coupon)
        if enrollment is None or enrollment.app_id != app.id:
            raise ApiError(
                422, "unknown_coupon", f"No coupon {data.coupon!r} for app {app.slug!r}."
            )

    occurred_at = data.occurred_at or signed_at
    payload = data.model_dump(mode="json", exclude_none=True)
    payload["occurred_at"] = occurred_at.isoformat()
    stored = ledger_api.store_event(
        source="api",
        external_id=msg_id,
        app_id=app.id,
        type=event.type,
        payload=payload,
        occurred_at=occurred_at,
    )
    return JsonResponse(
        {"id": str(stored.id), "status": stored.status, "duplicate": not stored.created},
        status=202 if stored.created else 200,
    )
