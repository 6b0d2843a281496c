"""Plain typed values the PayPal adapter takes and returns. Amounts are integer minor units."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from kangrow.core.money import currency_exponent, normalize_currency

# Batch statuses (components/schemas/batch_enum).
BATCH_DENIED = "DENIED"
BATCH_PENDING = "PENDING"
BATCH_PROCESSING = "PROCESSING"
BATCH_SUCCESS = "SUCCESS"
BATCH_CANCELED = "CANCELED"
BATCH_STATUSES = frozenset(
    {BATCH_DENIED, BATCH_PENDING, BATCH_PROCESSING, BATCH_SUCCESS, BATCH_CANCELED}
)

# Item statuses (components/schemas/transaction_enum) plus DENIED, which PayPal sends in
# PAYMENT.PAYOUTS-ITEM.DENIED events and item lookups although the published enum omits it.
ITEM_SUCCESS = "SUCCESS"
ITEM_FAILED = "FAILED"
ITEM_PENDING = "PENDING"
ITEM_UNCLAIMED = "UNCLAIMED"
ITEM_RETURNED = "RETURNED"
ITEM_ONHOLD = "ONHOLD"
ITEM_BLOCKED = "BLOCKED"
ITEM_REFUNDED = "REFUNDED"
ITEM_REVERSED = "REVERSED"
ITEM_DENIED = "DENIED"
ITEM_STATUSES = frozenset(
    {
        ITEM_SUCCESS,
        ITEM_FAILED,
        ITEM_PENDING,
        ITEM_UNCLAIMED,
        ITEM_RETURNED,
        ITEM_ONHOLD,
        ITEM_BLOCKED,
        ITEM_REFUNDED,
        ITEM_REVERSED,
        ITEM_DENIED,
    }
)
# Final from the payer's point of view: the money either arrived or came back.
ITEM_PAID_STATUSES = frozenset({ITEM_SUCCESS})
ITEM_MONEY_BACK_STATUSES = frozenset(
    {ITEM_FAILED, ITEM_RETURNED, ITEM_BLOCKED, ITEM_REFUNDED, ITEM_REVERSED, ITEM_DENIED}
)
ITEM_WAITING_STATUSES = frozenset({ITEM_PENDING, ITEM_ONHOLD, ITEM_UNCLAIMED})


def parse_amount(value: str, currency: str) -> int:
    """PayPal's decimal string → integer minor units, exactly ("100.00" USD → 10000).

    Raises ValueError for anything that is not an exact amount in that currency's minor units.
    """
    currency = normalize_currency(currency)
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not a decimal amount: {value!r}")
    if not amount.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    scaled = amount.scaleb(currency_exponent(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value!r} has more decimals than {currency} allows")
    return int(scaled)


@dataclass(frozen=True, slots=True)
class PayoutItem:
    """One payment to send: `amount_minor` in the currency's minor units (USD cents, JPY yen)."""

    sender_item_id: str
    receiver: str = field(repr=False)  # an email address: kept out of reprs and logs
    amount_minor: int
    currency: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class ItemError:
    name: str
    message: str


@dataclass(frozen=True, slots=True)
class ItemResult:
    payout_item_id: str
    payout_batch_id: str
    transaction_status: str | None
    sender_item_id: str | None
    amount_minor: int
    currency: str
    receiver: str = field(repr=False)
    transaction_id: str | None = None
    fee_minor: int | None = None
    fee_currency: str | None = None
    time_processed: str | None = None
    error: ItemError | None = None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> ItemResult:
        """Reads `payout_batch_items` / `payout_item-2` (and webhook item resources)."""
        detail = data.get("payout_item") or {}
        amount = detail.get("amount") or {}
        currency = normalize_currency(str(amount.get("currency", "")))
        fee = data.get("payout_item_fee") or None
        errors = data.get("errors") or None
        return cls(
            payout_item_id=str(data["payout_item_id"]),
            payout_batch_id=str(data.get("payout_batch_id", "")),
            transaction_status=data.get("transaction_status"),
            sender_item_id=detail.get("sender_item_id"),
            amount_minor=parse_amount(str(amount.get("value", "")), currency),
            currency=currency,
            receiver=str(detail.get("receiver", "")),
            transaction_id=data.get("transaction_id") or None,
            fee_minor=parse_amount(fee["value"], fee["currency"]) if fee else None,
            fee_currency=normalize_currency(fee["currency"]) if fee else None,
            time_processed=data.get("time_processed"),
            error=ItemError(str(errors.get("name", "")), str(errors.get("message", "")))
            if isinstance(errors, dict)
            else None,
        )


@dataclass(frozen=True, slots=True)
class BatchResult:
    payout_batch_id: str
    batch_status: str
    sender_batch_id: str | None
    time_created: str | None = None
    time_completed: str | None = None
    items: tuple[ItemResult, ...] = ()
    total_items: int | None = None

    @classmethod
    def from_header(
        cls,
        header: dict[str, Any],
        *,
        items: tuple[ItemResult, ...] = (),
        total_items: int | None = None,
    ) -> BatchResult:
        sender = header.get("sender_batch_header") or {}
        return cls(
            payout_batch_id=str(header["payout_batch_id"]),
            batch_status=str(header["batch_status"]),
            sender_batch_id=sender.get("sender_batch_id"),
            time_created=header.get("time_created"),
            time_completed=header.get("time_completed"),
            items=items,
            total_items=total_items,
        )
