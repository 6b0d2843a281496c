"""Payment events in /admin: staff see status, attempts and errors, and retry a waiting event;
money rows cannot be edited or deleted there."""

from __future__ import annotations

import pytest

from kangrow.ledger.models import Commission, LedgerEntry, PaymentEvent
from kangrow.ledger.tests.helpers import apply, build_world

pytestmark = pytest.mark.django_db


def test_staff_retry_applies_a_waiting_event(staff_client):
    # given an invoice that waited for its signup, and the signup that has since arrived
    world = build_world()
    event_id, status = apply(world, "invoice.paid", invoice_id="in_1", amount=1000, currency="USD")
    assert status == "waiting"
    apply(world, "customer.created", coupon=world.enrollment.coupon_code)
    listing = staff_client.get("/admin/ledger/paymentevent/?status__exact=waiting")
    assert listing.status_code == 200
    assert "in_1" in listing.content.decode()
    # when staff run the "retry" action on it
    response = staff_client.post(
        "/admin/ledger/paymentevent/",
        {"action": "retry", "_selected_action": [str(event_id)]},
        follow=True,
    )
    # then it is processed and earned its commission
    assert response.status_code == 200
    assert "Retried 1 event(s): 1 processed." in response.content.decode()
    assert PaymentEvent.objects.get(pk=event_id).status == "processed"
    assert Commission.objects.get().amount == 300


def test_money_rows_are_read_only_in_admin(staff_client):
    world = build_world()
    apply(
        world,
        "invoice.paid",
        invoice_id="in_1",
        amount=1000,
        currency="USD",
        coupon=world.enrollment.coupon_code,
    )
    commission = Commission.objects.get()
    url = f"/admin/ledger/commission/{commission.pk}/change/"
    assert staff_client.get(url).status_code == 200  # viewable
    response = staff_client.post(url, {"amount": 999999})
    assert response.status_code == 403
    delete = staff_client.post(f"/admin/ledger/commission/{commission.pk}/delete/", {"post": "yes"})
    assert delete.status_code == 403
    assert staff_client.get("/admin/ledger/ledgerentry/add/").status_code == 403
    commission.refresh_from_db()
    assert commission.amount == 300


def test_staff_void_writes_a_reversal_row(staff_client):
    world = build_world()
    apply(
        world,
        "invoice.paid",
        invoice_id="in_1",
        amount=1000,
        currency="USD",
        coupon=world.enrollment.coupon_code,
    )
    commission = Commission.objects.get()
    response = staff_client.post(
        "/admin/ledger/commission/",
        {"action": "void", "_selected_action": [str(commission.pk)]},
        follow=True,
    )
    assert response.status_code == 200
    assert "Voided 1 commission(s)" in response.content.decode()
    assert list(LedgerEntry.objects.order_by("created_at").values_list("kind", "amount")) == [
        ("commission", 300),
        ("clawback", -300),
    ]
    assert LedgerEntry.objects.get(kind="clawback").note == "voided by staff@example.com in admin"
