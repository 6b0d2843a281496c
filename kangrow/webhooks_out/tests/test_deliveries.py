"""Outbound webhooks against a real local receiver: signatures verified with the
standardwebhooks library, retries with backoff, and disabling after repeated 410s."""

import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from kangrow.accounts import api as accounts_api
from kangrow.programs import api as programs_api
from kangrow.tracking import api as tracking_api
from kangrow.webhooks_out import api
from kangrow.webhooks_out.models import Delivery, Endpoint, Message


class Receiver:
    """A loopback HTTP server that answers with queued status codes (then 200) and keeps
    every request it got."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["content-length"])).decode()
                receiver.requests.append(
                    {"path": self.path, "headers": dict(self.headers.items()), "body": body}
                )
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def make_affiliate(email):
    user, _ = accounts_api.upsert_affiliate(
        email=email, password="correct horse battery staple", verified=True, approved=True
    )
    return user


@pytest.fixture
def program(db):
    app, _, _ = programs_api.upsert_app(
        slug="invoicepro", fields={"name": "InvoicePro", "currency": "USD"}
    )
    other, _, _ = programs_api.upsert_app(
        slug="mailpilot", fields={"name": "MailPilot", "currency": "USD"}
    )
    programs_api.upsert_campaign(
        slug="launch",
        app_slug="invoicepro",
        fields={
            "name": "Launch",
            "commission_bps": 3000,
            "recurring": True,
            "customer_discount_bps": 2000,
        },
    )
    return SimpleNamespace(app=app, other_app=other)


def verify(secret: str, request: dict) -> dict:
    headers = {k.lower(): v for k, v in request["headers"].items()}
    return Webhook(secret).verify(request["body"], headers)


def test_joining_a_campaign_sends_a_signed_coupon_created(
    program, receiver, django_capture_on_commit_callbacks
):
    # given an endpoint of the app
    endpoint, secret = api.create_endpoint(app_id=program.app.id, url=receiver.url)
    jane = make_affiliate("jane@example.com")
    # when
    with django_capture_on_commit_callbacks(execute=True):
        programs_api.join_campaign(affiliate_id=jane.id, campaign_slug="launch")
    # then one signed request, which the standardwebhooks library verifies
    assert len(receiver.requests) == 1
    payload = verify(secret, receiver.requests[0])
    assert payload["type"] == "coupon.created"
    assert payload["data"]["coupon"] == "JANE30-INVOICEPRO"
    assert payload["data"]["app"] == "invoicepro"
    assert payload["data"]["campaign"] == "launch"
    assert payload["data"]["customer_discount_bps"] == 2000
    assert receiver.requests[0]["headers"]["webhook-id"].startswith("msg_")
    assert Delivery.objects.get().status == "delivered"
    # and a wrong secret does not verify
    with pytest.raises(WebhookVerificationError):
        verify(api.generate_secret(), receiver.requests[0])


def test_a_referral_sends_referral_created_only_to_its_apps_subscribed_endpoints(
    program, receiver, django_capture_on_commit_callbacks
):
    # given endpoints: this app (referrals only), this app (coupons only), another app
    _, secret = api.create_endpoint(
        app_id=program.app.id, url=receiver.url + "/a", event_types=["referral.created"]
    )
    api.create_endpoint(
        app_id=program.app.id, url=receiver.url + "/b", event_types=["coupon.created"]
    )
    api.create_endpoint(app_id=program.other_app.id, url=receiver.url + "/c")
    jane = make_affiliate("jane@example.com")
    enrollment = programs_api.join_campaign(affiliate_id=jane.id, campaign_slug="launch")
    receiver.requests.clear()
    # when
    with django_capture_on_commit_callbacks(execute=True):
        tracking_api.attribute_customer(
            app_id=program.app.id,
            customer_id="cus_1",
            coupon=enrollment.coupon_code,
            occurred_at=timezone.now(),
        )
    # then
    assert [r["path"] for r in receiver.requests] == ["/hooks/a"]
    payload = verify(secret, receiver.requests[0])
    assert payload["type"] == "referral.created"
    assert payload["data"]["customer_id"] == "cus_1"
    assert payload["data"]["attributed_by"] == "coupon"


def test_nothing_is_emitted_or_sent_when_the_change_rolls_back(
    program, receiver, django_capture_on_commit_callbacks
):
    api.create_endpoint(app_id=program.app.id, url=receiver.url)
    jane = make_affiliate("jane@example.com")
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        programs_api.join_campaign(affiliate_id=jane.id, campaign_slug="launch")
        raise RuntimeError("boom")
    assert Message.objects.count() == 0
    assert Delivery.objects.count() == 0
    assert receiver.requests == []


def test_failures_are_retried_with_backoff_until_delivered(
    program, receiver, django_capture_on_commit_callbacks
):
    # given an endpoint that fails twice
    _, secret = api.create_endpoint(app_id=program.app.id, url=receiver.url)
    receiver.statuses = [500, 503]
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        with django_capture_on_commit_callbacks(execute=True):
            api.emit(app_id=program.app.id, type="payout.paid", data={"amount": 100})
        row = Delivery.objects.get()
        # then the first attempt failed and waits 30 s
        assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, 500)
        assert row.next_attempt_at == start + timedelta(seconds=30)
        # not due yet: nothing is sent
        assert api.deliver_due() == 0
        traveller.shift(timedelta(seconds=30))
        assert api.deliver_due() == 1
        row.refresh_from_db()
        assert (row.status, row.attempts, row.last_status_code) == ("pending", 2, 503)
        assert row.next_attempt_at == start + timedelta(seconds=30) + timedelta(minutes=1)
        traveller.shift(timedelta(minutes=1))
        assert api.deliver_due() == 1
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 3, 200)
    # every attempt carried the same webhook-id and a valid signature
    assert len(receiver.requests) == 3
    assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == 1
    assert [verify(secret, r)["data"] for r in receiver.requests] == [{"amount": 100}] * 3


def test_network_errors_are_retried(program, django_capture_on_commit_callbacks):
    # given an endpoint on a closed loopback port
    closed = Receiver()
    url = closed.url
    closed.close()
    api.create_endpoint(app_id=program.app.id, url=url)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        api.emit(app_id=program.app.id, type="payout.paid", data={})
    # then
    row = Delivery.objects.get()
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, None)
    assert "ConnectError" in row.last_error


def test_giving_up_after_max_attempts_and_staff_retry(
    program, receiver, django_capture_on_commit_callbacks
):
    api.create_endpoint(app_id=program.app.id, url=receiver.url)
    receiver.statuses = [500] * api.MAX_ATTEMPTS
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        with django_capture_on_commit_callbacks(execute=True):
            api.emit(app_id=program.app.id, type="payout.paid", data={})
        for _ in range(api.MAX_ATTEMPTS - 1):
            traveller.shift(timedelta(hours=7))
            api.deliver_due()
    row = Delivery.objects.get()
    assert (row.status, row.attempts) == ("failed", api.MAX_ATTEMPTS)
    assert api.deliver_due() == 0
    # when staff retry it
    assert api.retry_delivery(delivery_id=row.id) is True
    assert api.deliver(delivery_id=row.id) == "delivered"
    assert len(receiver.requests) == api.MAX_ATTEMPTS + 1


def test_an_endpoint_is_disabled_after_repeated_410(
    program, receiver, django_capture_on_commit_callbacks
):
    # given an endpoint that answers 410 Gone, and two queued messages
    endpoint, _ = api.create_endpoint(app_id=program.app.id, url=receiver.url)
    receiver.statuses = [410] * 10
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        with django_capture_on_commit_callbacks(execute=True):
            api.emit(app_id=program.app.id, type="payout.paid", data={"n": 1})
            api.emit(app_id=program.app.id, type="payout.paid", data={"n": 2})
        # two 410s so far (one per message); one more reaches the limit
        assert Endpoint.objects.get().consecutive_gone == 2
        traveller.shift(timedelta(seconds=30))
        api.deliver_due()
    # then the endpoint is disabled and nothing is pending for it
    row = Endpoint.objects.get()
    assert row.is_active is False
    assert row.consecutive_gone == api.GONE_LIMIT
    assert "410" in row.disabled_reason
    assert sorted(Delivery.objects.values_list("status", flat=True)) == ["cancelled", "cancelled"]
    assert len(receiver.requests) == api.GONE_LIMIT
    # and new events are not queued for it
    with django_capture_on_commit_callbacks(execute=True):
        api.emit(app_id=program.app.id, type="payout.paid", data={"n": 3})
    assert Delivery.objects.count() == 2
    assert len(receiver.requests) == api.GONE_LIMIT


def test_a_non_410_answer_resets_the_gone_count(
    program, receiver, django_capture_on_commit_callbacks
):
    api.create_endpoint(app_id=program.app.id, url=receiver.url)
    receiver.statuses = [410, 410, 500, 410]
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(4):
            api.emit(app_id=program.app.id, type="payout.paid", data={"n": n})
    row = Endpoint.objects.get()
    assert (row.is_active, row.consecutive_gone) == (True, 1)


@pytest.mark.parametrize(
    ("url", "types", "field"),
    [
        ("ftp://example.com/x", [], "url"),
        ("not a url", [], "url"),
        ("https://example.com/\x00", [], "url"),
        ("https://example.com/x", ["invoice.paid"], "event_types"),
    ],
)
def test_bad_endpoints_are_refused_and_nothing_is_written(program, url, types, field):
    with pytest.raises(api.WebhookError) as caught:
        api.create_endpoint(app_id=program.app.id, url=url, event_types=types)
    assert caught.value.field == field
    assert Endpoint.objects.count() == 0


def test_emit_refuses_unknown_types_and_unserialisable_data(program):
    with pytest.raises(ValueError):
        api.emit(app_id=program.app.id, type="invoice.paid", data={})
    with pytest.raises(TypeError):
        api.emit(app_id=program.app.id, type="payout.paid", data={"x": object()})
    assert Message.objects.count() == 0


def _paid_invoice(program, enrollment, invoice, amount):
    from kangrow.ledger import api as ledger_api

    now = timezone.now()
    tracking_api.attribute_customer(
        app_id=program.app.id,
        customer_id=f"cus_{invoice}",
        coupon=enrollment.coupon_code,
        occurred_at=now - timedelta(minutes=1),
    )
    event_id, _ = ledger_api.ingest_event(
        source="test",
        external_id=f"evt_{invoice}",
        app_id=program.app.id,
        type="invoice.paid",
        payload={
            "customer_id": f"cus_{invoice}",
            "invoice_id": invoice,
            "amount": amount,
            "currency": "USD",
            "occurred_at": now.isoformat(),
        },
        occurred_at=now,
    )
    assert ledger_api.process_event(event_id=event_id) == "processed"


def test_commission_created_and_payout_paid_reach_the_app(
    program, receiver, django_capture_on_commit_callbacks
):
    # given an endpoint for commissions and payouts, and a campaign without a hold period
    from uuid_utils.compat import uuid7

    from kangrow.ledger import api as ledger_api

    _, secret = api.create_endpoint(
        app_id=program.app.id,
        url=receiver.url,
        event_types=["commission.created", "payout.paid"],
    )
    programs_api.upsert_campaign(slug="launch", app_slug="invoicepro", fields={"hold_days": 0})
    jane = make_affiliate("jane@example.com")
    enrollment = programs_api.join_campaign(affiliate_id=jane.id, campaign_slug="launch")
    # when an invoice is paid, then the commission is paid out
    with django_capture_on_commit_callbacks(execute=True):
        _paid_invoice(program, enrollment, "in_1", 4900)
    ledger_api.mature_commissions()
    item_id = uuid7()
    with django_capture_on_commit_callbacks(execute=True):
        claimed = ledger_api.claim_payable_entries(
            affiliate_id=jane.id, currency="USD", payout_item_id=item_id, minimum=1
        )
        assert ledger_api.settle_payout_item(payout_item_id=item_id) is True
    # then
    payloads = [verify(secret, r) for r in receiver.requests]
    assert [p["type"] for p in payloads] == ["commission.created", "payout.paid"]
    commission = payloads[0]["data"]
    assert (commission["amount"], commission["invoice_amount"], commission["rate_bps"]) == (
        1470,
        4900,
        3000,
    )
    assert commission["currency"] == "USD"
    assert claimed == 1470
    assert payloads[1]["data"] == {
        "payout_item_id": str(item_id),
        "affiliate_id": str(jane.id),
        "currency": "USD",
        "amount": 1470,
    }
