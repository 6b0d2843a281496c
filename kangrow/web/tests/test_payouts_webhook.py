"""POST /webhooks/paypal/: deliveries the fake PayPal really sent, verified with PayPal."""

from __future__ import annotations

import json

import pytest

from kangrow.integrations.paypal.fake import FakePayPal
from kangrow.ledger.models import LedgerEntry
from kangrow.notifications.models import Notification
from kangrow.payouts import api
from kangrow.payouts.models import PayoutBatch, PayoutItem, PayPalWebhookEvent
from kangrow.payouts.tests.helpers import affiliate, balance, earn, fake_client, world

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake():
    with FakePayPal(hang_seconds=1.0, deliver_webhooks=False) as server:
        yield server


URL = "/webhooks/paypal/"


@pytest.fixture
def paypal_settings(settings, fake):
    settings.PAYPAL_API_BASE = fake.base_url
    settings.PAYPAL_CLIENT_ID = fake.client_id
    settings.PAYPAL_CLIENT_SECRET = fake.client_secret
    settings.PAYPAL_WEBHOOK_ID = fake.webhook_id
    return settings


def post(client, record, body: bytes | None = None, **header_changes):
    headers = {**record.headers, **header_changes}
    meta = {
        "HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items() if k != "Content-Type"
    }
    return client.post(
        URL, data=body if body is not None else record.body, content_type="application/json", **meta
    )


def paid_batch(fake, status="SUCCESS"):
    w = world()
    jane = affiliate(w, "jane@example.com")
    fake.script_outcome("jane-pp@example.com", status)
    earn(w, jane, 15000)
    api.run_payouts(source="command")
    fake.settle(PayoutBatch.objects.get().payout_batch_id)
    item_event = next(
        e for e in fake.events if e.event["event_type"].startswith("PAYMENT.PAYOUTS-ITEM")
    )
    return jane, item_event


def test_item_succeeded_webhook_pays_once(client, fake, paypal_settings):
    jane, record = paid_batch(fake)
    response = post(client, record)
    assert (response.status_code, response.json()) == (200, {"status": "paid"})
    assert PayoutItem.objects.get().state == "paid"
    assert balance(jane)["paid"] == 15000
    assert Notification.objects.filter(user=jane, kind="payout.sent").count() == 1
    # a replay of the same delivery changes nothing
    rows = LedgerEntry.objects.count()
    response = post(client, record)
    assert (response.status_code, response.json()) == (200, {"status": "duplicate"})
    assert LedgerEntry.objects.count() == rows
    assert PayPalWebhookEvent.objects.count() == 1


def test_failed_item_webhook_returns_the_money(client, fake, paypal_settings):
    jane, record = paid_batch(fake, "FAILED")
    response = post(client, record)
    assert response.json() == {"status": "returned"}
    assert balance(jane)["available"] == 15000
    note = Notification.objects.get(user=jane, kind__startswith="payout.")
    assert note.kind == "payout.failed" and "PayPal could not deliver it" in note.body


def test_batch_webhook_records_paypal_status(client, fake, paypal_settings):
    paid_batch(fake)
    record = next(e for e in fake.events if e.event["event_type"] == "PAYMENT.PAYOUTSBATCH.SUCCESS")
    assert post(client, record).json() == {"status": "batch_updated"}
    assert PayoutBatch.objects.get().batch_status == "SUCCESS"


@pytest.mark.parametrize("tamper", ["signature", "body", "webhook_id", "no_headers"])
def test_bad_signature_is_400_and_changes_nothing(client, fake, paypal_settings, tamper):
    jane, record = paid_batch(fake)
    before = (LedgerEntry.objects.count(), Notification.objects.count())
    if tamper == "signature":
        response = post(client, record, **{"PAYPAL-TRANSMISSION-SIG": "f" * 64})
    elif tamper == "body":
        event = json.loads(record.body)
        event["resource"]["transaction_status"] = "SUCCESS"
        event["resource"]["payout_item"]["amount"]["value"] = "9999.00"
        response = post(client, record, body=json.dumps(event).encode())
    elif tamper == "webhook_id":
        paypal_settings.PAYPAL_WEBHOOK_ID = "OTHERWEBHOOK01"
        response = post(client, record)
    else:
        response = client.post(URL, data=record.body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_signature"
    assert PayPalWebhookEvent.objects.count() == 0
    assert (LedgerEntry.objects.count(), Notification.objects.count()) == before
    assert PayoutItem.objects.get().state == "in_flight"


def test_paypal_unreachable_for_verification_is_503(client, fake, paypal_settings, monkeypatch):
    jane, record = paid_batch(fake)
    monkeypatch.setattr(api.paypal, "get_client", lambda: fake_client(fake, retries=1))
    fake.inject("verify", "503", times=2)
    response = post(client, record)
    assert response.status_code == 503
    assert PayPalWebhookEvent.objects.count() == 0


def test_get_is_not_allowed(client):
    assert client.get(URL).status_code == 405


def test_genuine_event_with_an_escaped_nul_is_refused_without_writing(
    client, fake, paypal_settings
):
    record = fake.state.emit(
        "PAYMENT.PAYOUTS-ITEM.SUCCEEDED",
        "payouts_item",
        "A payout item has succeeded.",
        {"x": "a\x00b"},
    )
    assert b"\\u0000" in record.body
    response = post(client, record)
    assert (response.status_code, response.json()["error"]["code"]) == (400, "bad_body")
    assert PayPalWebhookEvent.objects.count() == 0


def test_genuine_event_for_an_unknown_item_is_stored_and_changes_nothing(
    client, fake, paypal_settings
):
    jane, record = paid_batch(fake)
    PayoutItem.objects.update(
        payout_item_id="OTHER", sender_item_id="01a214cf-0000-7000-8000-000000000000"
    )
    response = post(client, record)
    assert response.json() == {"status": "unknown_item"}
    assert PayPalWebhookEvent.objects.get().outcome == "unknown_item"
    assert balance(jane)["paid"] == 0


@pytest.mark.django_db(transaction=True)
def test_fake_paypal_delivers_signed_webhooks_to_the_running_site(live_server, settings):
    # given the fake PayPal posting its webhooks to our live /webhooks/paypal/
    with FakePayPal(
        webhook_url=f"{live_server.url}{URL}", deliver_webhooks=False, hang_seconds=1.0
    ) as fake:
        settings.PAYPAL_API_BASE = fake.base_url
        settings.PAYPAL_CLIENT_ID = fake.client_id
        settings.PAYPAL_CLIENT_SECRET = fake.client_secret
        settings.PAYPAL_WEBHOOK_ID = fake.webhook_id
        jane, _ = paid_batch(fake)
        # when PayPal delivers every event (batch processing, item succeeded, batch success)
        fake.flush_webhooks()
        # then each was accepted after verification, and the payout is settled once
        assert [e.delivered_status for e in fake.events] == [200] * len(fake.events)
        assert PayPalWebhookEvent.objects.count() == len(fake.events)
        assert PayoutItem.objects.get().state == "paid"
        assert balance(jane)["paid"] == 15000
        assert PayoutBatch.objects.get().status == "completed"
