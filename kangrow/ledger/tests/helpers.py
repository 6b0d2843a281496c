"""Shared builders for the ledger tests: an app, a campaign, an approved affiliate enrolled in
it (through the programs api), and helpers that store and process events through the ledger api.
"""

from __future__ import annotations

import base64
import itertools
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from standardwebhooks.webhooks import Webhook

from kangrow.core.money import apply_rate
from kangrow.ledger import api as ledger_api
from kangrow.ledger.models import Commission, PaymentEvent
from kangrow.programs import api as programs_api
from kangrow.programs.tests.factories import make_affiliate, make_app, make_campaign

SIGNING_SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
STRIPE_SECRET = "whsec_stripe_test_secret_0123456789"
T0 = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)

_ids = itertools.count(1)


@dataclass
class World:
    app: Any
    campaign: Any
    affiliate: Any
    enrollment: Any


def build_world(
    *,
    app_slug: str = "invoicepro",
    campaign_slug: str = "launch",
    email: str = "jane@example.com",
    **campaign_fields: Any,
) -> World:
    app = make_app(
        app_slug,
        name="InvoicePro",
        signing_secret=SIGNING_SECRET,
        stripe_endpoint_secret=STRIPE_SECRET,
    )
    fields = {"commission_bps": 3000, "recurring": True, "hold_days": 30, **campaign_fields}
    campaign = make_campaign(campaign_slug, app_slug=app_slug, name="Launch", **fields)
    affiliate = make_affiliate(email)
    enrollment = programs_api.join_campaign(affiliate_id=affiliate.id, campaign_slug=campaign_slug)
    return World(app=app, campaign=campaign, affiliate=affiliate, enrollment=enrollment)


def apply(
    world: World, type: str, *, at: datetime = T0, external_id: str | None = None, **data: Any
) -> tuple[Any, str]:
    """Store one internal event through the ledger api and process it; (event id, status)."""
    payload = {"customer_id": "cus_1", "occurred_at": at.isoformat(), **data}
    event_id, _ = ledger_api.ingest_event(
        source="test",
        external_id=external_id or f"evt_{next(_ids)}",
        app_id=world.app.id,
        type=type,
        payload=payload,
        occurred_at=at,
    )
    return event_id, ledger_api.process_event(event_id=event_id)


def paid(world: World, invoice: str, amount: int, *, at: datetime = T0, **data: Any) -> str:
    return apply(
        world, "invoice.paid", at=at, invoice_id=invoice, amount=amount, currency="USD", **data
    )[1]


def signed_headers(
    body: str, *, msg_id: str = "msg_1", secret: str = SIGNING_SECRET, at: float | None = None
) -> dict[str, str]:
    ts = datetime.fromtimestamp(at if at is not None else time.time(), tz=UTC)
    signature = Webhook(secret).sign(msg_id=msg_id, timestamp=ts, data=body)
    return {
        "HTTP_WEBHOOK_ID": msg_id,
        "HTTP_WEBHOOK_TIMESTAMP": str(int(ts.timestamp())),
        "HTTP_WEBHOOK_SIGNATURE": signature,
    }


def event_body(type: str, **data: Any) -> str:
    return json.dumps({"type": type, "data": {"app": "invoicepro", **data}})


def statuses() -> list[tuple[str, str, str]]:
    return list(
        PaymentEvent.objects.order_by("created_at").values_list("type", "status", "outcome")
    )


def later(days: int = 0, **kw: Any) -> datetime:
    return T0 + timedelta(days=days, **kw)


def assert_reconciled(customer: str, amounts: list[int], refunded: list[int], bps: int) -> None:
    """The ledger property: per referral, the sum of its rows is rate x paid - refunds (each
    refund capped at its invoice), to the cent, with one commission per non-zero invoice."""
    expected = sum(
        apply_rate(a, bps) - apply_rate(min(refunded[n], a), bps)
        for n, a in enumerate(amounts)
        if a > 0
    )
    referral_id = (
        Commission.objects.filter(customer_id=customer)
        .values_list("referral_id", flat=True)
        .first()
    )
    actual = ledger_api.sum_ledger(referral_id=referral_id) if referral_id else 0
    assert actual == expected
    # and each commission's own net (what the dashboard reads) agrees with its ledger rows
    nets = Commission.objects.filter(customer_id=customer).values_list("amount", "reversed_amount")
    assert sum(amount - taken for amount, taken in nets) == expected
    assert ledger_api.reconcile_commission_nets() == []
    assert Commission.objects.filter(customer_id=customer).count() == sum(
        1 for a in amounts if a > 0
    )
