"""End to end: the PayPal client against the fake PayPal server on a loopback port."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from kangrow.integrations.paypal import (
    DuplicateBatchError,
    PayoutItem,
    PayPalAuthError,
    PayPalClient,
    PayPalUnavailable,
    PayPalValidationError,
)
from kangrow.integrations.paypal import schema as paypal_schema
from kangrow.integrations.paypal.fake import ITEM_EVENT_TYPES, ITEM_OUTCOMES, FakePayPal

SUBJECT = {"email_subject": "You have a payout", "email_message": "Your KanGrow commissions"}


def items(*receivers: str, amount: int = 10000, currency: str = "USD") -> list[PayoutItem]:
    return [
        PayoutItem(f"item-{n}", receiver, amount, currency)
        for n, receiver in enumerate(receivers, start=1)
    ]


def poll_until_final(client: PayPalClient, payout_batch_id: str, *, limit: int = 5):
    statuses = []
    for _ in range(limit):
        batch = client.get_batch(payout_batch_id)
        statuses.append(batch.batch_status)
        if batch.batch_status not in ("PENDING", "PROCESSING"):
            return batch, statuses
    raise AssertionError(f"batch stuck at {statuses}")


def test_create_then_poll_to_success(fake, fake_client):
    # given two affiliates with PayPal accounts
    created = fake_client.create_batch(
        sender_batch_id="run-1-batch-1",
        items=items("jane@example.com", "kenji@example.com", amount=1500, currency="JPY"),
        **SUBJECT,
    )

    # when we poll
    batch, statuses = poll_until_final(fake_client, created.payout_batch_id)

    # then PENDING → PROCESSING → SUCCESS, every item paid in full
    assert created.batch_status == "PENDING"
    assert statuses == ["PROCESSING", "SUCCESS"]
    assert batch.sender_batch_id == "run-1-batch-1"
    assert [
        (i.sender_item_id, i.transaction_status, i.amount_minor, i.currency) for i in batch.items
    ] == [
        ("item-1", "SUCCESS", 1500, "JPY"),
        ("item-2", "SUCCESS", 1500, "JPY"),
    ]
    assert [r["status"] for r in fake.requests if r["path"] == "/v1/payments/payouts"] == [201]


def test_every_scripted_outcome_is_reported_per_item(fake, fake_client):
    # given one receiver per outcome, by +tag
    receivers = [f"a+{status.lower()}@example.com" for status in ITEM_OUTCOMES]
    created = fake_client.create_batch(sender_batch_id="run-2", items=items(*receivers), **SUBJECT)

    # when
    fake.settle(created.payout_batch_id)
    batch = fake_client.get_batch(created.payout_batch_id)

    # then
    assert [i.transaction_status for i in batch.items] == list(ITEM_OUTCOMES)
    assert batch.items[ITEM_OUTCOMES.index("UNCLAIMED")].error.name == "RECEIVER_UNREGISTERED"
    assert batch.items[ITEM_OUTCOMES.index("SUCCESS")].error is None
    # and one webhook event per item that left PENDING, then the batch event
    event_types = [e.event["event_type"] for e in fake.events]
    assert event_types == [
        "PAYMENT.PAYOUTSBATCH.PROCESSING",
        *[ITEM_EVENT_TYPES[s] for s in ITEM_OUTCOMES if s != "PENDING"],
        "PAYMENT.PAYOUTSBATCH.SUCCESS",
    ]


def test_outcome_scripted_through_the_control_endpoint(fake, fake_client):
    # given
    answer = httpx.post(
        f"{fake.base_url}/_fake/outcomes", json={"receiver": "Bob@Example.com", "status": "blocked"}
    )
    created = fake_client.create_batch(
        sender_batch_id="run-3", items=items("bob@example.com"), **SUBJECT
    )

    # when
    fake.settle(created.payout_batch_id)

    # then
    assert answer.status_code == 204
    assert fake_client.get_batch(created.payout_batch_id).items[0].transaction_status == "BLOCKED"


def test_an_unclaimed_item_is_cancelled_to_returned_and_only_once(fake, fake_client):
    # given a settled batch with one unclaimed item
    created = fake_client.create_batch(
        sender_batch_id="run-4",
        items=items("paid@example.com", "nobody+unclaimed@example.com"),
        **SUBJECT,
    )
    fake.settle(created.payout_batch_id)
    paid, unclaimed = fake_client.get_batch(created.payout_batch_id).items

    # when
    cancelled = fake_client.cancel_unclaimed_item(unclaimed.payout_item_id)

    # then it is RETURNED; cancelling again changes nothing, and a paid item cannot be cancelled
    assert unclaimed.transaction_status == "UNCLAIMED"
    assert cancelled.transaction_status == "RETURNED"
    assert fake_client.get_item(unclaimed.payout_item_id).transaction_status == "RETURNED"
    assert fake.events[-1].event["event_type"] == "PAYMENT.PAYOUTS-ITEM.CANCELED"
    again = fake_client.cancel_unclaimed_item(unclaimed.payout_item_id)
    assert again.transaction_status == "RETURNED"
    with pytest.raises(PayPalValidationError):
        fake_client.cancel_unclaimed_item(paid.payout_item_id)
    assert [e.event["event_type"] for e in fake.events].count("PAYMENT.PAYOUTS-ITEM.CANCELED") == 1
    assert fake.items[paid.payout_item_id].transaction_status == "SUCCESS"


def test_unclaimed_for_30_days_comes_back_as_returned(fake, fake_client):
    created = fake_client.create_batch(
        sender_batch_id="run-5", items=items("x+unclaimed@example.com"), **SUBJECT
    )
    fake.settle(created.payout_batch_id)
    [item] = fake_client.get_batch(created.payout_batch_id).items

    fake.expire_unclaimed(item.payout_item_id)

    assert fake_client.get_item(item.payout_item_id).transaction_status == "RETURNED"
    assert fake.events[-1].event["event_type"] == "PAYMENT.PAYOUTS-ITEM.RETURNED"


def test_a_timeout_after_accept_then_the_same_id_is_a_duplicate_and_one_batch(fake):
    # given PayPal records the batch but answers only after our read timeout, and we do not retry
    fake.inject("create_batch", "timeout_after_accept")
    once = PayPalClient(
        fake.base_url, fake.client_id, fake.client_secret, timeout=0.3, max_retries=0
    )
    batch_items = items("jane@example.com", "kenji@example.com")
    with pytest.raises(PayPalUnavailable):
        once.create_batch(sender_batch_id="run-6-batch-1", items=batch_items, **SUBJECT)

    # when the caller re-sends the same sender_batch_id (as the module tells it to)
    with pytest.raises(DuplicateBatchError) as raised:
        once.create_batch(sender_batch_id="run-6-batch-1", items=batch_items, **SUBJECT)

    # then PayPal has exactly one batch, and the duplicate answer names it
    assert len(fake.batches) == 1
    [batch] = fake.batches.values()
    assert batch.sender_batch_id == "run-6-batch-1"
    assert raised.value.payout_batch_id == batch.payout_batch_id
    assert len(fake.items) == 2
    once.close()


def test_the_client_retry_itself_turns_a_timeout_after_accept_into_a_duplicate(fake, fake_client):
    # given
    fake.inject("create_batch", "timeout_after_accept")

    # when the client times out and retries on its own
    with pytest.raises(DuplicateBatchError) as raised:
        fake_client.create_batch(
            sender_batch_id="run-7", items=items("jane@example.com"), **SUBJECT
        )

    # then
    assert len(fake.batches) == 1
    assert raised.value.payout_batch_id == fake.batch_for("run-7").payout_batch_id


def test_resolve_batch_answers_did_paypal_get_it(fake, fake_client):
    # given one batch PayPal got (a 5xx after accepting) and one it never saw
    fake.inject("create_batch", "500_after_accept")
    once = PayPalClient(fake.base_url, fake.client_id, fake.client_secret, max_retries=0)
    with pytest.raises(PayPalUnavailable):
        once.create_batch(sender_batch_id="got-it", items=items("a@example.com"), **SUBJECT)
    once.close()

    # when
    seen = fake_client.resolve_batch(
        sender_batch_id="got-it", items=items("a@example.com"), **SUBJECT
    )
    unseen = fake_client.resolve_batch(
        sender_batch_id="never-sent", items=items("b@example.com"), **SUBJECT
    )

    # then the first exists once, the second was created now, once
    assert (seen.exists, seen.payout_batch_id, seen.created_now) == (
        True,
        fake.batch_for("got-it").payout_batch_id,
        None,
    )
    assert unseen.exists is True
    assert unseen.created_now is not None
    assert unseen.payout_batch_id == fake.batch_for("never-sent").payout_batch_id
    assert sorted(b.sender_batch_id for b in fake.batches.values()) == ["got-it", "never-sent"]


def test_a_5xx_once_is_retried_and_pays_once(fake, fake_client):
    fake.inject("create_batch", "503")

    created = fake_client.create_batch(
        sender_batch_id="run-8", items=items("jane@example.com"), **SUBJECT
    )

    assert [r["status"] for r in fake.requests if r["path"] == "/v1/payments/payouts"] == [503, 201]
    assert list(fake.batches) == [created.payout_batch_id]


def test_429_is_retried_after_the_advertised_delay(fake):
    fake.inject("get_item", "429", retry_after=0)
    slept: list[float] = []
    paypal = PayPalClient(
        fake.base_url, fake.client_id, fake.client_secret, backoff=5.0, sleep=slept.append
    )
    created = paypal.create_batch(sender_batch_id="r9", items=items("j@example.com"), **SUBJECT)
    fake.settle(created.payout_batch_id)
    item_id = fake.batch_for("r9").item_ids[0]

    item = paypal.get_item(item_id)

    assert item.transaction_status == "SUCCESS"
    assert slept == [0.0]
    paypal.close()


def test_a_revoked_token_is_refreshed_once(fake, fake_client):
    fake_client.create_batch(sender_batch_id="r10", items=items("j@example.com"), **SUBJECT)
    fake.revoke_tokens()

    fake_client.get_batch(fake.batch_for("r10").payout_batch_id)

    assert fake.state.tokens_issued == 2


def test_wrong_credentials_are_refused(fake):
    paypal = PayPalClient(fake.base_url, fake.client_id, "wrong-secret", backoff=0)

    with pytest.raises(PayPalAuthError):
        paypal.create_batch(sender_batch_id="r11", items=items("j@example.com"), **SUBJECT)

    assert fake.batches == {}
    assert [r["path"] for r in fake.requests] == ["/v1/oauth2/token"]
    paypal.close()


def test_the_fake_rejects_bodies_that_violate_the_schema_and_creates_nothing(fake, fake_client):
    # given a valid token and hand-made bad bodies
    token = fake_client._access_token()
    headers = {"Authorization": f"Bearer {token}"}
    bad_bodies = [
        {"items": [{"amount": {"value": "1.00", "currency": "USD"}, "receiver": "a@example.com"}]},
        {"sender_batch_header": {"sender_batch_id": "b1"}, "items": []},
        {
            "sender_batch_header": {"sender_batch_id": "b2"},
            "items": [{"receiver": "a@example.com"}],
        },
        {
            "sender_batch_header": {"sender_batch_id": "b3"},
            "items": [
                {"amount": {"value": "15.5", "currency": "JPY"}, "receiver": "a@example.com"}
            ],
        },
        {
            "sender_batch_header": {"sender_batch_id": "b4"},
            "items": [{"amount": {"value": "1.00", "currency": "USD"}, "receiver": "nobody"}],
        },
    ]

    # when
    answers = [
        httpx.post(f"{fake.base_url}/v1/payments/payouts", json=body, headers=headers)
        for body in bad_bodies
    ]

    # then each is a PayPal-shaped 400 that validates against the spec's error schema
    assert [a.status_code for a in answers] == [400] * 5
    for answer in answers:
        body = answer.json()
        assert body["name"] == "VALIDATION_ERROR"
        assert body["details"]
        assert (
            paypal_schema.schema_errors(
                paypal_schema.PAYOUTS_SPEC, "#/components/schemas/error", body
            )
            == []
        )
    assert fake.batches == {}


def test_the_fake_needs_a_live_bearer_token(fake):
    answer = httpx.get(f"{fake.base_url}/v1/payments/payouts-item/ABC")

    assert answer.status_code == 401
    assert answer.json()["name"] == "AUTHENTICATION_FAILURE"


def test_fake_answers_validate_against_the_response_schemas(fake, fake_client):
    # given a settled batch (outcomes inside PayPal's published transaction enum)
    created = fake_client.create_batch(
        sender_batch_id="r12",
        items=items("a@example.com", "b+unclaimed@example.com", "c+failed@example.com"),
        **SUBJECT,
    )
    fake.settle(created.payout_batch_id)
    token = fake_client._access_token()
    headers = {"Authorization": f"Bearer {token}"}
    item_id = fake.batch_for("r12").item_ids[1]

    # when
    batch = httpx.get(
        f"{fake.base_url}/v1/payments/payouts/{created.payout_batch_id}?total_required=true",
        headers=headers,
    )
    item = httpx.get(f"{fake.base_url}/v1/payments/payouts-item/{item_id}", headers=headers)
    cancel = httpx.post(
        f"{fake.base_url}/v1/payments/payouts-item/{item_id}/cancel", headers=headers
    )

    # then
    spec = paypal_schema.PAYOUTS_SPEC
    for answer, operation in (
        (batch, "payouts.get"),
        (item, "payouts-item.get"),
        (cancel, "payouts-item.cancel"),
    ):
        assert answer.status_code == 200
        ref = {
            "payouts.get": "#/components/schemas/payout_batch",
            "payouts-item.get": "#/components/schemas/payout_item-2",
            "payouts-item.cancel": "#/components/schemas/payout_item-2",
        }[operation]
        assert paypal_schema.schema_errors(spec, ref, answer.json()) == []
    for record in fake.events:
        assert (
            paypal_schema.schema_errors(
                paypal_schema.WEBHOOKS_SPEC, "#/components/schemas/event", record.event
            )
            == []
        )


class _Listener:
    """A loopback webhook receiver that records what arrives."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                listener.received.append((dict(self.headers.items()), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/paypal/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_webhooks_are_posted_and_only_genuine_ones_verify():
    listener = _Listener()
    try:
        with FakePayPal(webhook_url=listener.url) as fake:
            paypal = PayPalClient(fake.base_url, fake.client_id, fake.client_secret, backoff=0)
            created = paypal.create_batch(
                sender_batch_id="r13",
                items=items("a@example.com", "b+failed@example.com"),
                **SUBJECT,
            )

            # when the batch settles
            fake.settle(created.payout_batch_id)
            # (the listener has a body before the fake has read its answer: wait for both)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and (
                len(listener.received) < 4 or any(r.delivered_status is None for r in fake.events)
            ):
                time.sleep(0.02)

            # then four events arrived, each verifiable, each only as delivered
            types = [json.loads(body)["event_type"] for _, body in listener.received]
            assert types == [
                "PAYMENT.PAYOUTSBATCH.PROCESSING",
                "PAYMENT.PAYOUTS-ITEM.SUCCEEDED",
                "PAYMENT.PAYOUTS-ITEM.FAILED",
                "PAYMENT.PAYOUTSBATCH.SUCCESS",
            ]
            headers, body = listener.received[2]
            event = json.loads(body)
            assert event["resource"]["sender_batch_id"] == "r13"
            assert event["resource"]["transaction_status"] == "FAILED"
            assert [r.delivered_status for r in fake.events] == [200] * 4
            assert (
                paypal.verify_webhook_signature(
                    headers=headers, event_body=body, webhook_id=fake.webhook_id
                )
                is True
            )
            tampered = body.replace(b'"FAILED"', b'"SUCCESS"')
            assert (
                paypal.verify_webhook_signature(
                    headers=headers, event_body=tampered, webhook_id=fake.webhook_id
                )
                is False
            )
            assert (
                paypal.verify_webhook_signature(
                    headers=headers, event_body=body, webhook_id="OTHERWEBHOOK1"
                )
                is False
            )
            other_headers, _ = listener.received[1]
            assert (
                paypal.verify_webhook_signature(
                    headers=headers
                    | {"Paypal-Transmission-Sig": other_headers["Paypal-Transmission-Sig"]},
                    event_body=body,
                    webhook_id=fake.webhook_id,
                )
                is False
            )
            paypal.close()
    finally:
        listener.close()


def test_the_fake_runs_as_a_module():
    import subprocess
    import sys

    from kangrow.integrations.paypal.fake import free_port

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "kangrow.integrations.paypal.fake", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        banner = process.stdout.readline()
        paypal = PayPalClient(f"http://127.0.0.1:{port}", "fake-client-id", "fake-client-secret")
        created = paypal.create_batch(
            sender_batch_id="cli-1", items=items("a@example.com"), **SUBJECT
        )
        assert banner.startswith(f"Fake PayPal listening on http://127.0.0.1:{port}")
        assert created.batch_status == "PENDING"
        paypal.close()
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_threads_sharing_a_client_fetch_one_token(fake, fake_client):
    # given a batch and eight threads reading it through one client
    from concurrent.futures import ThreadPoolExecutor

    fake_client.close()
    shared = PayPalClient(fake.base_url, fake.client_id, fake.client_secret, backoff=0)
    barrier = threading.Barrier(8)

    def read(n: int) -> str:
        barrier.wait()
        return shared._access_token()

    # when they all need a token at the same moment
    with ThreadPoolExecutor(max_workers=8) as pool:
        tokens = list(pool.map(read, range(8)))

    # then PayPal was asked once and everyone uses that token
    assert fake.state.tokens_issued == 1
    assert len(set(tokens)) == 1
    shared.close()


@pytest.mark.parametrize("kind", ["timeout", "drop"])
def test_a_call_lost_before_paypal_acted_is_retried_into_exactly_one_batch(fake, fake_client, kind):
    # given the first attempt never reaches PayPal's logic
    fake.inject("create_batch", kind)

    # when
    created = fake_client.create_batch(
        sender_batch_id=f"lost-{kind}", items=items("jane@example.com"), **SUBJECT
    )

    # then the retry created it, once
    assert list(fake.batches) == [created.payout_batch_id]
    assert [r["status"] for r in fake.requests if r["path"] == "/v1/payments/payouts"] == [
        None,
        201,
    ]


def test_control_endpoints_inject_faults_and_report_state(fake, fake_client):
    # given a fault injected over HTTP, as the demo does
    injected = httpx.post(
        f"{fake.base_url}/_fake/faults",
        json={"operation": "create_batch", "kind": "500", "times": 1},
    )
    refused = httpx.post(f"{fake.base_url}/_fake/faults", json={"operation": "x", "kind": "500"})

    # when
    created = fake_client.create_batch(
        sender_batch_id="ctl-1", items=items("jane@example.com"), **SUBJECT
    )
    advanced = httpx.post(f"{fake.base_url}/_fake/batches/{created.payout_batch_id}/advance")
    state = httpx.get(f"{fake.base_url}/_fake/state").json()

    # then
    assert (injected.status_code, refused.status_code) == (204, 400)
    assert advanced.json() == {"batch_status": "PROCESSING"}
    assert [b["sender_batch_id"] for b in state["batches"]] == ["ctl-1"]
    assert [r["status"] for r in state["requests"] if r["path"] == "/v1/payments/payouts"] == [
        500,
        201,
    ]
    assert state["faults"] == []


def test_a_batch_with_only_denied_items_is_denied(fake, fake_client):
    created = fake_client.create_batch(
        sender_batch_id="deny-1",
        items=items("a+denied@example.com", "b+denied@example.com"),
        **SUBJECT,
    )

    batch, statuses = poll_until_final(fake_client, created.payout_batch_id)

    assert statuses == ["PROCESSING", "DENIED"]
    assert [i.transaction_status for i in batch.items] == ["DENIED", "DENIED"]
    assert fake.events[-1].event["event_type"] == "PAYMENT.PAYOUTSBATCH.DENIED"


def test_a_cancel_whose_answer_was_lost_still_reports_returned(fake, fake_client):
    # given PayPal cancels the item but the answer never reaches us; the retry is refused
    created = fake_client.create_batch(
        sender_batch_id="cancel-lost", items=items("x+unclaimed@example.com"), **SUBJECT
    )
    fake.settle(created.payout_batch_id)
    [item_id] = fake.batch_for("cancel-lost").item_ids
    fake.inject("cancel_item", "timeout_after_accept")

    # when
    result = fake_client.cancel_unclaimed_item(item_id)

    # then the item is RETURNED, cancelled once
    assert result.transaction_status == "RETURNED"
    assert [e.event["event_type"] for e in fake.events].count("PAYMENT.PAYOUTS-ITEM.CANCELED") == 1
