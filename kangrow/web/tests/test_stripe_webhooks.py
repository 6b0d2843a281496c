"""POST /webhooks/stripe/<app>/: events signed exactly as Stripe signs them
(`Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(endpoint secret, "<t>.<payload>")>`), in the
pre-2025 and the current invoice shapes."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from kangrow.ledger.models import Commission, LedgerEntry, PaymentEvent
from kangrow.ledger.tests.helpers import STRIPE_SECRET, build_world
from kangrow.notifications.models import Notification
from kangrow.tracking import api as tracking_api

URL = "/webhooks/stripe/invoicepro/"


@pytest.fixture
def world(db):
    return build_world()


def stripe_signature(payload: str, secret: str = STRIPE_SECRET, at: int | None = None) -> str:
    t = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def send(event: dict, *, secret: str = STRIPE_SECRET, at: int | None = None, url: str = URL):
    payload = json.dumps(event)
    return Client().post(
        url,
        data=payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=stripe_signature(payload, secret, at),
    )


def event(evt_id: str, kind: str, obj: dict, *, api_version: str = "2025-03-31.basil") -> dict:
    return {
        "id": evt_id,
        "object": "event",
        "api_version": api_version,
        "created": int(time.time()),
        "type": kind,
        "data": {"object": obj},
    }


def legacy_invoice(coupon_code: str, **extra) -> dict:
    """invoice.paid as API versions before 2025 sent it."""
    return {
        "id": "in_old",
        "object": "invoice",
        "customer": "cus_S1",
        "customer_email": "buyer@example.org",
        "amount_paid": 5900,
        "tax": 900,
        "currency": "usd",
        "subscription": "sub_old",
        "payment_intent": "pi_old",
        "discount": {
            "object": "discount",
            "coupon": {"id": coupon_code, "object": "coupon", "percent_off": 20},
            "promotion_code": "promo_1Abc",
        },
        "status_transitions": {"paid_at": int(time.time()) - 60},
        **extra,
    }


def current_invoice(**extra) -> dict:
    """invoice.paid as the current API sends it (parent.subscription_details, discounts[])."""
    return {
        "id": "in_new",
        "object": "invoice",
        "customer": "cus_S2",
        "customer_email": "other@example.org",
        "amount_paid": 4400,
        "currency": "usd",
        "parent": {
            "type": "subscription_details",
            "subscription_details": {"subscription": "sub_new", "metadata": {}},
        },
        "discounts": [],
        "total_taxes": [{"amount": 400, "tax_behavior": "exclusive"}],
        "status_transitions": {"paid_at": int(time.time()) - 60},
        **extra,
    }


def test_legacy_invoice_shape_with_coupon_earns_on_amount_before_tax(
    world, django_capture_on_commit_callbacks
):
    obj = legacy_invoice(world.enrollment.coupon_code)
    with django_capture_on_commit_callbacks(execute=True):
        response = send(event("evt_1", "invoice.paid", obj, api_version="2024-06-20"))
    assert response.status_code == 200
    stored = PaymentEvent.objects.get()
    assert (stored.source, stored.external_id, stored.type) == ("stripe", "evt_1", "invoice.paid")
    assert stored.payload["subscription_id"] == "sub_old"
    assert stored.payload["coupon"] == world.enrollment.coupon_code
    commission = Commission.objects.get()
    assert (commission.invoice_id, commission.invoice_amount, commission.amount) == (
        "in_old",
        5000,
        1500,
    )
    assert (commission.subscription_id, commission.payment_ref) == ("sub_old", "pi_old")


def test_current_invoice_shape_reads_parent_subscription_and_discounts(
    world, django_capture_on_commit_callbacks
):
    discount = {
        "id": "di_1",
        "object": "discount",
        "source": {"type": "coupon", "coupon": "stripe_coupon_x"},
        "promotion_code": {"id": "promo_9", "code": world.enrollment.coupon_code},
    }
    obj = current_invoice(discounts=[discount])
    with django_capture_on_commit_callbacks(execute=True):
        response = send(event("evt_2", "invoice.paid", obj))
    assert response.status_code == 200
    commission = Commission.objects.get()
    assert (commission.invoice_id, commission.invoice_amount, commission.amount) == (
        "in_new",
        4000,
        1200,
    )
    assert commission.subscription_id == "sub_new"
    referral = tracking_api.get_referral(app_id=world.app.id, customer_id="cus_S2")
    assert referral.attributed_by == "coupon"


def test_checkout_ref_then_invoice_refund_and_cancellation(
    world, django_capture_on_commit_callbacks
):
    # given a click on the affiliate's link
    tracking_api.record_click(
        token=world.enrollment.token, clicked_at=timezone.now() - timedelta(hours=1)
    )
    session = {
        "id": "cs_1",
        "object": "checkout.session",
        "mode": "subscription",
        "customer": "cus_S2",
        "customer_details": {"email": "other@example.org"},
        "client_reference_id": world.enrollment.token,
        "subscription": "sub_new",
    }
    refund = {
        "id": "ch_1",
        "object": "charge",
        "customer": "cus_S2",
        "invoice": "in_new",
        "amount_refunded": 4000,
        "currency": "usd",
    }
    deleted = {
        "id": "sub_new",
        "object": "subscription",
        "customer": "cus_S2",
        "canceled_at": int(time.time()),
    }
    steps = [
        ("evt_a", "checkout.session.completed", session),
        ("evt_b", "invoice.paid", current_invoice()),
        ("evt_c", "charge.refunded", refund),
        ("evt_d", "customer.subscription.deleted", deleted),
    ]
    for evt_id, kind, obj in steps:
        with django_capture_on_commit_callbacks(execute=True):
            assert send(event(evt_id, kind, obj)).status_code == 200
    assert list(PaymentEvent.objects.order_by("created_at").values_list("type", "outcome")) == [
        ("subscription.created", "attributed"),
        ("invoice.paid", "commission_created"),
        ("invoice.refunded", "refund_reversed"),
        ("subscription.cancelled", "referral_cancelled"),
    ]
    assert list(LedgerEntry.objects.order_by("created_at").values_list("kind", "amount")) == [
        ("commission", 1200),
        ("refund_reversal", -1200),
    ]
    assert list(Notification.objects.order_by("created_at").values_list("kind", flat=True)) == [
        "commission.earned",
        "referral.cancelled",
    ]
    assert len(mail.outbox) == 1


def test_cumulative_stripe_refunds_reverse_in_proportion(world, django_capture_on_commit_callbacks):
    obj = legacy_invoice(world.enrollment.coupon_code, status_transitions={})
    charge = {"id": "ch_1", "customer": "cus_S1", "invoice": "in_old", "currency": "usd"}
    with django_capture_on_commit_callbacks(execute=True):
        send(event("evt_1", "invoice.paid", obj))
    for n, total in enumerate([1000, 3000, 3000]):
        with django_capture_on_commit_callbacks(execute=True):
            send(event(f"evt_r{n}", "charge.refunded", {**charge, "amount_refunded": total}))
    # then 1000 -> 300 reversed, 3000 -> 900 in total, the repeat of 3000 reverses nothing
    assert list(LedgerEntry.objects.order_by("created_at").values_list("amount", flat=True)) == [
        1500,
        -300,
        -600,
    ]
    assert PaymentEvent.objects.get(external_id="evt_r2").outcome == "refund_nothing_left"


def test_replayed_stripe_event_changes_nothing(world, django_capture_on_commit_callbacks):
    evt = event("evt_1", "invoice.paid", legacy_invoice(world.enrollment.coupon_code))
    with django_capture_on_commit_callbacks(execute=True):
        first = send(evt)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        second = send(evt)
    assert first.json()["duplicate"] is False
    assert second.status_code == 200 and second.json()["duplicate"] is True
    assert callbacks == []
    assert PaymentEvent.objects.count() == 1 and Commission.objects.count() == 1


def test_wrong_secret_is_refused_and_writes_nothing(world):
    evt = event("evt_1", "invoice.paid", legacy_invoice(world.enrollment.coupon_code))
    response = send(evt, secret="whsec_someone_else")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_signature"
    assert PaymentEvent.objects.count() == 0 and Commission.objects.count() == 0


def test_stale_signature_is_refused(world):
    evt = event("evt_1", "invoice.paid", legacy_invoice(world.enrollment.coupon_code))
    response = send(evt, at=int(time.time()) - 301)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "stale_timestamp"
    assert PaymentEvent.objects.count() == 0


def test_missing_signature_is_refused(world):
    response = Client().post(URL, data="{}", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_signature"
    assert PaymentEvent.objects.count() == 0


def test_unknown_or_unbilled_app_is_404(world):
    response = send(event("evt_1", "invoice.paid", {}), url="/webhooks/stripe/nope/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_app"
    assert PaymentEvent.objects.count() == 0


def test_unused_event_types_are_acknowledged_and_not_stored(world):
    response = send(event("evt_1", "payment_method.attached", {"id": "pm_1"}))
    assert response.status_code == 200
    assert response.json() == {"received": True, "ignored": True}
    assert PaymentEvent.objects.count() == 0


def test_invoice_without_customer_is_a_clear_400(world):
    response = send(event("evt_1", "invoice.paid", {"id": "in_1", "amount_paid": 100}))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_body"
    assert PaymentEvent.objects.count() == 0


def test_absurd_timestamps_fall_back_instead_of_failing(world, django_capture_on_commit_callbacks):
    obj = legacy_invoice(world.enrollment.coupon_code, status_transitions={"paid_at": 10**20})
    with django_capture_on_commit_callbacks(execute=True):
        response = send(event("evt_1", "invoice.paid", obj))
    assert response.status_code == 200
    assert Commission.objects.get().paid_at.year == timezone.now().year


def test_overlong_ids_are_a_clear_400(world):
    obj = legacy_invoice(world.enrollment.coupon_code, customer="cus_" + "x" * 300)
    response = send(event("evt_1", "invoice.paid", obj))
    assert response.status_code == 400
    assert response.json()["error"]["details"] == ["customer_id"]
    assert PaymentEvent.objects.count() == 0


def test_current_shape_refund_naming_only_the_payment_intent_finds_its_invoice(
    world, django_capture_on_commit_callbacks
):
    # given a current-shape invoice whose payment is listed under invoice.payments
    payments = {
        "object": "list",
        "data": [
            {
                "object": "invoice_payment",
                "payment": {"type": "payment_intent", "payment_intent": "pi_new"},
            }
        ],
    }
    obj = current_invoice(payments=payments, discounts=[world.enrollment.coupon_code])
    # and a refund of the charge that no longer names the invoice
    charge = {
        "id": "ch_2",
        "object": "charge",
        "customer": "cus_S2",
        "payment_intent": "pi_new",
        "amount_refunded": 2000,
        "currency": "usd",
    }
    for evt_id, kind, body in [
        ("evt_p", "invoice.paid", obj),
        ("evt_r", "charge.refunded", charge),
    ]:
        with django_capture_on_commit_callbacks(execute=True):
            assert send(event(evt_id, kind, body)).status_code == 200
    # then the refund reversed half of the commission
    commission = Commission.objects.get()
    assert commission.payment_ref == "pi_new"
    assert list(LedgerEntry.objects.order_by("created_at").values_list("amount", flat=True)) == [
        1200,
        -600,
    ]
