"""POST /api/v1/events: Standard Webhooks signatures, idempotency, validation, and a race of two
deliveries of one event (PostgreSQL)."""

from __future__ import annotations

import base64
import json
import time
from functools import partial

import pytest
from django.db import connection
from django.test import Client

from kangrow.core.testing import run_at_once
from kangrow.ledger.models import Commission, LedgerEntry, PaymentEvent
from kangrow.ledger.tests.helpers import build_world, event_body, signed_headers
from kangrow.programs import api as programs_api
from kangrow.tracking import api as tracking_api

URL = "/api/v1/events"


@pytest.fixture
def world(db):
    return build_world()


def post(client: Client, body: str, **headers: str):
    return client.post(URL, data=body, content_type="application/json", **headers)


def invoice(world, **extra) -> str:
    data = {
        "customer_id": "cus_1",
        "customer_email": "buyer@example.org",
        "invoice_id": "in_1",
        "amount": 4900,
        "currency": "usd",
        "coupon": world.enrollment.coupon_code.lower(),
        "occurred_at": "2026-11-23T10:00:00Z",
        **extra,
    }
    return event_body("invoice.paid", **data)


def nothing_written() -> bool:
    return (
        PaymentEvent.objects.count() == 0
        and Commission.objects.count() == 0
        and LedgerEntry.objects.count() == 0
    )


def test_signed_invoice_is_stored_processed_and_earns(world, django_capture_on_commit_callbacks):
    # given a correctly signed invoice.paid with the affiliate's coupon (any case)
    body = invoice(world)
    # when it is posted
    with django_capture_on_commit_callbacks(execute=True):
        response = post(Client(), body, **signed_headers(body, msg_id="msg_a"))
    # then it is accepted, stored, processed inline and earned 30 %
    assert response.status_code == 202
    assert response.json()["duplicate"] is False
    event = PaymentEvent.objects.get()
    assert (event.source, event.external_id, event.type) == ("api", "msg_a", "invoice.paid")
    assert event.status == "processed" and event.outcome == "commission_created"
    assert event.payload["currency"] == "USD"
    assert list(Commission.objects.values_list("invoice_id", "amount")) == [("in_1", 1470)]
    referral = tracking_api.get_referral(app_id=world.app.id, customer_id="cus_1")
    assert referral.attributed_by == "coupon"


def test_replay_of_a_webhook_id_returns_200_and_changes_nothing(
    world, django_capture_on_commit_callbacks
):
    body = invoice(world)
    with django_capture_on_commit_callbacks(execute=True):
        first = post(Client(), body, **signed_headers(body, msg_id="msg_a"))
    # when the same webhook-id is delivered again (even with another amount)
    replay = invoice(world, amount=99900)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        second = post(Client(), replay, **signed_headers(replay, msg_id="msg_a"))
    # then 200, same event, nothing queued, nothing changed
    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json() == {"id": first.json()["id"], "status": "processed", "duplicate": True}
    assert callbacks == []
    assert PaymentEvent.objects.count() == 1
    assert list(Commission.objects.values_list("amount", flat=True)) == [1470]


@pytest.mark.parametrize(
    ("mutate", "status", "code"),
    [
        (lambda h, b: {**h, "HTTP_WEBHOOK_SIGNATURE": "v1,AAAA"}, 401, "bad_signature"),
        (lambda h, b: {k: v for k, v in h.items() if k != "HTTP_WEBHOOK_ID"}, 401, "bad_signature"),
        (lambda h, b: {**h, "HTTP_WEBHOOK_SIGNATURE": "garbage"}, 401, "bad_signature"),
        (lambda h, b: {**h, "HTTP_WEBHOOK_ID": "msg_other"}, 401, "bad_signature"),
    ],
)
def test_bad_signatures_are_refused_and_write_nothing(world, mutate, status, code):
    body = invoice(world)
    headers = mutate(signed_headers(body), body)
    response = post(Client(), body, **headers)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert nothing_written()


def test_signature_with_another_apps_secret_is_refused(world):
    body = invoice(world)
    other = "whsec_" + "b" * 44
    response = post(Client(), body, **signed_headers(body, secret=other))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "bad_signature"
    assert nothing_written()


def test_stale_timestamp_is_refused(world):
    body = invoice(world)
    response = post(Client(), body, **signed_headers(body, at=time.time() - 301))
    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": "stale_timestamp",
        "message": "The webhook-timestamp is more than 5 minutes away from now; sign and send "
        "again.",
        "details": {"tolerance_seconds": 300},
    }
    assert nothing_written()


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("{not json", 400),
        (json.dumps(["a list"]), 422),
        (json.dumps({"type": "customer.created", "data": ["not", "an", "object"]}), 422),
        (json.dumps({"type": "customer.created", "data": "invoicepro"}), 422),
        (
            event_body(
                "invoice.paid", customer_id="cus_1", amount=49.0, currency="USD", invoice_id="in_1"
            ),
            422,
        ),
        (
            event_body(
                "invoice.paid",
                customer_id="cus_1",
                amount="4900",
                currency="USD",
                invoice_id="in_1",
            ),
            422,
        ),
        (
            event_body(
                "invoice.paid",
                customer_id="cus_1",
                amount=4900,
                currency="DOLLARS",
                invoice_id="in_1",
            ),
            422,
        ),
        (event_body("invoice.paid", customer_id="cus_1", amount=4900, currency="USD"), 422),
        (
            event_body(
                "invoice.paid", customer_id="cus_1", amount=-1, currency="USD", invoice_id="in_1"
            ),
            422,
        ),
        (
            event_body(
                "invoice.refunded", customer_id="cus_1", amount=0, currency="USD", invoice_id="in_1"
            ),
            422,
        ),
        (event_body("invoice.voided", customer_id="cus_1"), 422),
        (event_body("customer.created", customer_id=""), 422),
        (event_body("customer.created", customer_id="cus_\u0000"), 400),
        (event_body("customer.created", customer_id="cus_1", occurred_at="yesterday"), 422),
        (
            event_body("customer.created", customer_id="cus_1", occurred_at="2026-11-23T10:00:00"),
            422,
        ),
    ],
)
def test_malformed_bodies_are_refused_and_write_nothing(world, body, status):
    response = post(Client(), body, **signed_headers(body))
    assert response.status_code == status
    assert response.json()["error"]["code"] == "invalid_body"
    assert nothing_written()


def test_unknown_app_is_refused(world):
    body = json.dumps({"type": "customer.created", "data": {"app": "nope", "customer_id": "c"}})
    response = post(Client(), body, **signed_headers(body))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_app"
    assert nothing_written()


def test_unknown_coupon_is_refused(world):
    body = invoice(world, coupon="NOBODY30-INVOICEPRO")
    response = post(Client(), body, **signed_headers(body))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unknown_coupon"
    assert nothing_written()


def test_coupon_of_another_app_is_unknown_here(world):
    other = build_world(app_slug="mailpilot", campaign_slug="mp-launch", email="max@example.com")
    body = invoice(world, coupon=other.enrollment.coupon_code)
    response = post(Client(), body, **signed_headers(body))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unknown_coupon"
    assert nothing_written()


def test_signup_then_invoices_then_refund_then_cancel_over_http(
    world, django_capture_on_commit_callbacks
):
    client = Client()
    steps = [
        (
            "customer.created",
            {"customer_email": "b@example.org", "coupon": world.enrollment.coupon_code},
        ),
        ("invoice.paid", {"invoice_id": "in_1", "amount": 1000, "currency": "USD"}),
        ("invoice.refunded", {"invoice_id": "in_1", "amount": 500, "currency": "USD"}),
        ("subscription.cancelled", {}),
    ]
    for n, (kind, data) in enumerate(steps):
        body = event_body(kind, customer_id="cus_9", **data)
        with django_capture_on_commit_callbacks(execute=True):
            response = post(client, body, **signed_headers(body, msg_id=f"m{n}"))
        assert response.status_code == 202
    assert list(PaymentEvent.objects.order_by("created_at").values_list("outcome", flat=True)) == [
        "attributed",
        "commission_created",
        "refund_reversed",
        "referral_cancelled",
    ]
    assert sum(LedgerEntry.objects.values_list("amount", flat=True)) == 150


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_deliveries_of_one_event_make_one_commission():
    if connection.vendor != "postgresql":
        pytest.skip("row locks and concurrent inserts need PostgreSQL")
    # given a world and one signed event
    world = build_world()
    body = invoice(world)
    headers = signed_headers(body, msg_id="msg_race")
    # when two deliveries race
    outcomes = run_at_once(*[lambda: post(Client(), body, **headers).status_code] * 2)
    results = outcomes.values
    # then one is new, one is a repeat, and there is exactly one commission
    assert sorted(results) == [200, 202]
    assert PaymentEvent.objects.count() == 1
    assert Commission.objects.count() == 1
    assert LedgerEntry.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_events_for_one_invoice_processed_concurrently_make_one_commission():
    if connection.vendor != "postgresql":
        pytest.skip("row locks and concurrent inserts need PostgreSQL")
    world = build_world()
    bodies = [invoice(world), invoice(world)]

    def deliver(n: int) -> int:
        return post(Client(), bodies[n], **signed_headers(bodies[n], msg_id=f"m{n}")).status_code

    results = run_at_once(partial(deliver, 0), partial(deliver, 1))
    assert results == [202, 202]
    assert sorted(PaymentEvent.objects.values_list("status", flat=True)) == ["processed"] * 2
    assert Commission.objects.count() == 1
    assert LedgerEntry.objects.count() == 1


def test_openapi_documents_the_events_endpoint(db):
    schema = Client().get("/api/v1/openapi.json").json()
    operation = schema["paths"]["/api/v1/events"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]) == {"type", "data"}
    assert "$ref" not in json.dumps(body)  # inlined: no dangling #/$defs references
    assert body["properties"]["data"]["properties"]["amount"]["anyOf"][0]["type"] == "integer"
    assert {"200", "202", "401", "404", "422"} <= set(operation["responses"])


def test_a_remembered_app_still_sees_a_rotated_secret_at_once(world, settings):
    # given the app remembered by this process (no query per request)
    settings.APP_CACHE_SECONDS = 60
    programs_api._apps_by_slug.clear()
    body = invoice(world, invoice_id="in_a")
    assert post(Client(), body, **signed_headers(body, msg_id="m_a")).status_code == 202
    # when its signing secret is rotated
    new_secret = "whsec_" + base64.b64encode(b"n" * 32).decode()
    programs_api.upsert_app(slug="invoicepro", fields={"signing_secret": new_secret})
    # then the new secret is accepted at once (a mismatch asks the database again)
    body = invoice(world, invoice_id="in_b")
    fresh = post(Client(), body, **signed_headers(body, msg_id="m_b", secret=new_secret))
    assert fresh.status_code == 202
    # and the old one is refused once the memory is older than APP_CACHE_SECONDS
    programs_api._apps_by_slug["invoicepro"] = (-1e9, programs_api._apps_by_slug["invoicepro"][1])
    body = invoice(world, invoice_id="in_c")
    stale = post(Client(), body, **signed_headers(body, msg_id="m_c"))
    assert stale.status_code == 401
    assert PaymentEvent.objects.count() == 2
    programs_api._apps_by_slug.clear()
