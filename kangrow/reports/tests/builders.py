"""Hand-built affiliate activity for the reports tests, written through the contexts' apis:
clicks through tracking, money through the ledger's event processing."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from kangrow.ledger import api as ledger_api
from kangrow.programs import api as programs_api
from kangrow.programs.tests.factories import make_affiliate, make_app, make_campaign
from kangrow.tracking import api as tracking_api

_ids = itertools.count(1)


def at(month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def event(app: Any, type: str, when: datetime, **data: Any) -> str:
    """Store one money event through the ledger api and process it; returns its outcome."""
    event_id, _ = ledger_api.ingest_event(
        source="test",
        external_id=f"evt_{next(_ids)}",
        app_id=app.id,
        type=type,
        payload={"occurred_at": when.isoformat(), **data},
        occurred_at=when,
    )
    ledger_api.process_event(event_id=event_id)
    return ledger_api.get_event_status(event_id=event_id)


def paid(
    app: Any,
    enrollment: Any,
    customer: str,
    invoice: str,
    amount: int,
    when: datetime,
    *,
    email: str | None = None,
) -> str:
    return event(
        app,
        "invoice.paid",
        when,
        customer_id=customer,
        customer_email=email or f"{customer}@buyer.example",
        invoice_id=invoice,
        amount=amount,
        currency=app.currency,
        coupon=enrollment.coupon_code,
    )


def clicks(enrollment: Any, when: datetime, n: int) -> None:
    for _ in range(n):
        tracking_api.record_click(token=enrollment.token, clicked_at=when)


def two_apps() -> dict[str, Any]:
    """InvoicePro (USD, 'launch', long hold: pending) and MailPilot (EUR, 'mail', no hold:
    payable at once); Jane joins both, Bob joins 'launch'."""
    invoicepro = make_app("invoicepro", name="InvoicePro", currency="USD")
    mailpilot = make_app("mailpilot", name="MailPilot", currency="EUR")
    make_campaign("launch", app_slug="invoicepro", name="Launch", hold_days=3650)
    make_campaign("mail", app_slug="mailpilot", name="Mail", hold_days=0)
    jane = make_affiliate("jane@example.com")
    bob = make_affiliate("bob@example.com", first_name="Bob")
    return {
        "invoicepro": invoicepro,
        "mailpilot": mailpilot,
        "jane": jane,
        "bob": bob,
        "jane_launch": programs_api.join_campaign(affiliate_id=jane.id, campaign_slug="launch"),
        "jane_mail": programs_api.join_campaign(affiliate_id=jane.id, campaign_slug="mail"),
        "bob_launch": programs_api.join_campaign(affiliate_id=bob.id, campaign_slug="launch"),
    }
