"""POST /webhooks/stripe/<app-slug>/: Stripe events for apps billed by Stripe.

Verified with the app's endpoint secret exactly as Stripe signs (`Stripe-Signature:
t=…,v1=HMAC-SHA256(secret, "t.payload")`, 5-minute tolerance), mapped onto the internal money
events, and stored with source "stripe" + the Stripe event id; processing happens after commit.
"""

from __future__ import annotations

import json

import stripe
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from kangrow.ledger import api as ledger_api
from kangrow.programs import api as programs_api

from .stripe_events import map_stripe_event

TOLERANCE_SECONDS = 300
MAX_BODY_BYTES = 256 * 1024


def _error(status: int, code: str, message: str, details: object = None) -> JsonResponse:
    return JsonResponse(
        {"error": {"code": code, "message": message, "details": details}}, status=status
    )


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest, app_slug: str) -> JsonResponse:
    app = programs_api.get_app_by_slug(slug=app_slug)
    if app is None or not app.stripe_endpoint_secret:
        return _error(404, "unknown_app", f"No Stripe-billed app with slug {app_slug!r}.")
    body = request.body
    if len(body) > MAX_BODY_BYTES:
        return _error(413, "invalid_body", "The body is too large.")
    header = request.headers.get("Stripe-Signature", "")
    try:
        payload_text = body.decode("utf-8")
        stripe.WebhookSignature.verify_header(
            payload_text, header, app.stripe_endpoint_secret, tolerance=TOLERANCE_SECONDS
        )
    except UnicodeDecodeError:
        return _error(400, "invalid_body", "The body is not UTF-8.")
    except stripe.SignatureVerificationError as exc:
        if "tolerance" in str(exc):
            return _error(400, "stale_timestamp", "The Stripe-Signature timestamp is too old.")
        return _error(400, "bad_signature", "The Stripe-Signature does not match this app.")
    try:
        event = json.loads(payload_text)
    except ValueError:
        return _error(400, "invalid_body", "The body is not JSON.")
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or _has_nul(event):
        return _error(400, "invalid_body", "The body is not a Stripe event.")
    try:
        mapped = map_stripe_event(event)
    except ValueError as exc:
        return _error(400, "invalid_body", str(exc))
    if mapped is None:
        return JsonResponse({"received": True, "ignored": True})
    too_long = sorted(
        key for key, value in mapped.payload.items() if isinstance(value, str) and len(value) > 255
    )
    if too_long:
        return _error(400, "invalid_body", "Fields longer than 255 characters.", too_long)
    for code in mapped.coupon_candidates:
        enrollment = programs_api.get_enrollment_by_coupon(code=code)
        if enrollment is not None and enrollment.app_id == app.id:
            mapped.payload["coupon"] = enrollment.coupon_code
            break
    payload = {k: v for k, v in mapped.payload.items() if v is not None}
    payload["stripe_type"] = event.get("type")
    payload["occurred_at"] = mapped.occurred_at.isoformat()
    event_id, created = ledger_api.ingest_event(
        source="stripe",
        external_id=event["id"][:255],
        app_id=app.id,
        type=mapped.type,
        payload=payload,
        occurred_at=mapped.occurred_at,
    )
    return JsonResponse(
        {"received": True, "id": str(event_id), "duplicate": not created},
        status=200,
    )
