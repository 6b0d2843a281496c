"""Stripe event payloads mapped onto KanGrow's internal money events (pure parsing, no I/O).

Reads both invoice shapes: before the 2025 API versions (`invoice.subscription`,
`invoice.discount.coupon` / `.promotion_code`, `invoice.tax`, `invoice.payment_intent`) and the
current one (`invoice.parent.subscription_details.subscription`, `invoice.discounts`,
`invoice.total_taxes`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kangrow.core.money import normalize_currency


@dataclass
class MappedEvent:
    type: str  # one of ledger.api.EVENT_TYPES
    occurred_at: datetime
    payload: dict[str, Any]
    coupon_candidates: list[str] = field(default_factory=list)


def _id(value: Any) -> str:
    """Stripe fields hold either an id or the expanded object."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else ""


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _ts(value: Any, fallback: Any) -> datetime:
    for candidate in (value, fallback):
        if isinstance(candidate, int) and not isinstance(candidate, bool) and candidate > 0:
            try:
                return datetime.fromtimestamp(candidate, tz=UTC)
            except (OverflowError, OSError, ValueError):
                continue
    return datetime.now(tz=UTC)


def _coupon_candidates(*discounts: Any) -> list[str]:
    """Possible KanGrow coupon codes in Stripe discounts, strongest first."""
    found: list[str] = []

    def add(value: Any) -> None:
        if isinstance(value, str) and value and value not in found:
            found.append(value)

    def from_discount(discount: Any) -> None:
        if isinstance(discount, str):
            add(discount)
            return
        discount = _dict(discount)
        promo = discount.get("promotion_code")
        if isinstance(promo, dict):
            add(promo.get("code"))
            add(_dict(promo.get("metadata")).get("kangrow_coupon"))
        coupon = discount.get("coupon") or _dict(discount.get("source")).get("coupon")
        if isinstance(coupon, dict):
            add(_dict(coupon.get("metadata")).get("kangrow_coupon"))
            add(coupon.get("id"))
            add(coupon.get("name"))
        else:
            add(coupon)
        if isinstance(promo, str):
            add(promo)

    for item in discounts:
        if isinstance(item, list):
            for each in item:
                from_discount(each)
        elif item:
            from_discount(item)
    return found


def _currency(value: Any) -> str:
    return normalize_currency(value if isinstance(value, str) else "")


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _invoice_payment_intent(invoice: dict) -> str:
    """The current shape moved the payment intent to invoice.payments[].payment.payment_intent
    (present when the list is included); refunds of the charge name only that intent."""
    payments = _dict(invoice.get("payments")).get("data") or []
    for item in payments if isinstance(payments, list) else []:
        intent = _id(_dict(_dict(item).get("payment")).get("payment_intent"))
        if intent:
            return intent
    return ""


def map_stripe_event(event: dict[str, Any]) -> MappedEvent | None:
    """The internal event for a Stripe event, or None when KanGrow does not use that type.

    Raises ValueError for a payload that lacks what the type needs.
    """
    kind = event.get("type")
    obj = _dict(_dict(event.get("data")).get("object"))
    created = event.get("created")
    metadata = _dict(obj.get("metadata"))

    if kind == "customer.created":
        customer_id = _id(obj)
        if not customer_id:
            raise ValueError("customer.created without a customer id")
        payload = {
            "customer_id": customer_id,
            "customer_email": obj.get("email") or None,
            "ref": metadata.get("ref") or None,
        }
        candidates = _coupon_candidates(metadata.get("coupon"), obj.get("discount"))
        return MappedEvent(
            "customer.created", _ts(obj.get("created"), created), payload, candidates
        )

    if kind == "checkout.session.completed":
        customer_id = _id(obj.get("customer"))
        if not customer_id:
            return None  # a guest checkout has no customer to follow
        email = _dict(obj.get("customer_details")).get("email") or obj.get("customer_email")
        payload = {
            "customer_id": customer_id,
            "customer_email": email or None,
            "subscription_id": _id(obj.get("subscription")) or None,
            "ref": obj.get("client_reference_id") or metadata.get("ref") or None,
        }
        breakdown = _dict(_dict(obj.get("total_details")).get("breakdown")).get("discounts")
        candidates = _coupon_candidates(
            obj.get("discounts"),
            [_dict(d).get("discount") for d in breakdown or []],
        )
        internal = (
            "subscription.created" if obj.get("mode") == "subscription" else ("customer.created")
        )
        return MappedEvent(internal, _ts(created, None), payload, candidates)

    if kind == "invoice.paid":
        customer_id = _id(obj.get("customer"))
        invoice_id = _id(obj)
        if not (customer_id and invoice_id):
            raise ValueError("invoice.paid without customer or invoice id")
        parent_sub = _dict(_dict(obj.get("parent")).get("subscription_details"))
        old_sub = _dict(obj.get("subscription_details"))
        subscription_id = _id(obj.get("subscription")) or _id(parent_sub.get("subscription"))
        tax = _int(obj.get("tax")) + sum(
            _int(_dict(t).get("amount")) for t in obj.get("total_taxes") or []
        )
        amount = max(_int(obj.get("amount_paid")) - tax, 0)
        ref = (
            _dict(parent_sub.get("metadata")).get("ref")
            or _dict(old_sub.get("metadata")).get("ref")
            or metadata.get("ref")
        )
        payload = {
            "customer_id": customer_id,
            "customer_email": obj.get("customer_email") or None,
            "subscription_id": subscription_id or None,
            "invoice_id": invoice_id,
            "amount": amount,
            "currency": _currency(obj.get("currency")),
            "ref": ref or None,
            "payment_ref": _id(obj.get("payment_intent")) or _invoice_payment_intent(obj) or None,
        }
        candidates = _coupon_candidates(obj.get("discount"), obj.get("discounts"))
        paid_at = _dict(obj.get("status_transitions")).get("paid_at")
        return MappedEvent("invoice.paid", _ts(paid_at, created), payload, candidates)

    if kind == "charge.refunded":
        customer_id = _id(obj.get("customer"))
        invoice_id = _id(obj.get("invoice")) or metadata.get("invoice_id") or ""
        payment_ref = _id(obj.get("payment_intent"))
        if not (invoice_id or payment_ref):
            raise ValueError("charge.refunded names neither an invoice nor a payment intent")
        payload = {
            "customer_id": customer_id,
            "invoice_id": invoice_id,
            "amount": _int(obj.get("amount_refunded")),
            "refunded_total": _int(obj.get("amount_refunded")),
            "currency": _currency(obj.get("currency")),
            "payment_ref": payment_ref or None,
        }
        return MappedEvent("invoice.refunded", _ts(created, None), payload)

    if kind == "customer.subscription.deleted":
        customer_id = _id(obj.get("customer"))
        if not customer_id:
            raise ValueError("customer.subscription.deleted without a customer")
        payload = {"customer_id": customer_id, "subscription_id": _id(obj) or None}
        when = obj.get("canceled_at") or obj.get("ended_at")
        return MappedEvent("subscription.cancelled", _ts(when, created), payload)

    return None
