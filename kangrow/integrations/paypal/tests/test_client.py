"""The PayPal client against respx: every request it sends conforms to PayPal's OpenAPI contract
(checked by the `paypal_mock` fixture at teardown), and every failure maps to the right type."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from kangrow.integrations.paypal import (
    DuplicateBatchError,
    PayoutItem,
    PayPalAuthError,
    PayPalClient,
    PayPalError,
    PayPalNotFound,
    PayPalUnavailable,
    PayPalValidationError,
    get_client,
    parse_amount,
)

from .conftest import BASE, CLIENT_ID, CLIENT_SECRET, contract_errors, route, token_response

PAYOUTS = "/v1/payments/payouts"
ITEMS = [
    PayoutItem("item-1", "jane-pp@example.com", 10000, "USD", "KanGrow payout"),
    PayoutItem("item-2", "kenji-pp@example.com", 1500, "JPY"),
]


def created(payout_batch_id: str = "5UXD2E8A7EBQJ", sender_batch_id: str = "run-1-batch-1"):
    return httpx.Response(
        201,
        json={
            "batch_header": {
                "payout_batch_id": payout_batch_id,
                "batch_status": "PENDING",
                "sender_batch_header": {"sender_batch_id": sender_batch_id},
            },
            "links": [{"href": f"{BASE}{PAYOUTS}/{payout_batch_id}", "rel": "self"}],
        },
    )


def error(status: int, name: str, message: str = "x", details=None, links=None):
    body = {"name": name, "message": message, "debug_id": "dbg123", "details": details or []}
    if links is not None:
        body["links"] = links
    return httpx.Response(status, json=body)


def create(client: PayPalClient, sender_batch_id: str = "run-1-batch-1", items=ITEMS):
    return client.create_batch(
        sender_batch_id=sender_batch_id,
        items=items,
        email_subject="You have a payout",
        email_message="Your KanGrow commissions",
    )


def item_json(item_id: str, status: str, sender_item_id: str, value="100.00", currency="USD"):
    return {
        "payout_item_id": item_id,
        "transaction_id": "TX" + item_id,
        "transaction_status": status,
        "payout_batch_id": "5UXD2E8A7EBQJ",
        "payout_item": {
            "recipient_type": "EMAIL",
            "amount": {"value": value, "currency": currency},
            "receiver": "jane-pp@example.com",
            "sender_item_id": sender_item_id,
        },
    }


# -- request bodies --------------------------------------------------------------------------


def test_create_batch_sends_a_valid_body_with_amounts_formatted_per_currency(
    paypal_mock, recorder, client
):
    # given PayPal accepts the batch
    route(paypal_mock, recorder, "POST", "/v1/oauth2/token", token_response())
    route(paypal_mock, recorder, "POST", PAYOUTS, created())
    items = [
        *ITEMS,
        PayoutItem("item-3", "amal-pp@example.com", 1234, "KWD"),
        PayoutItem("item-4", "eva-pp@example.com", 5, "eur"),
    ]

    # when
    result = create(client, items=items)

    # then
    assert (result.payout_batch_id, result.batch_status, result.sender_batch_id) == (
        "5UXD2E8A7EBQJ",
        "PENDING",
        "run-1-batch-1",
    )
    [request] = recorder.api_requests()
    assert request.headers["paypal-request-id"] == "run-1-batch-1"
    assert json.loads(request.content) == {
        "sender_batch_header": {
            "sender_batch_id": "run-1-batch-1",
            "recipient_type": "EMAIL",
            "email_subject": "You have a payout",
            "email_message": "Your KanGrow commissions",
        },
        "items": [
            {
                "recipient_type": "EMAIL",
                "amount": {"value": "100.00", "currency": "USD"},
                "receiver": "jane-pp@example.com",
                "sender_item_id": "item-1",
                "note": "KanGrow payout",
            },
            {
                "recipient_type": "EMAIL",
                "amount": {"value": "1500", "currency": "JPY"},
                "receiver": "kenji-pp@example.com",
                "sender_item_id": "item-2",
            },
            {
                "recipient_type": "EMAIL",
                "amount": {"value": "1.234", "currency": "KWD"},
                "receiver": "amal-pp@example.com",
                "sender_item_id": "item-3",
            },
            {
                "recipient_type": "EMAIL",
                "amount": {"value": "0.05", "currency": "EUR"},
                "receiver": "eva-pp@example.com",
                "sender_item_id": "item-4",
            },
        ],
    }
    assert recorder.violations == []


def test_every_operation_sends_requests_that_conform_to_the_contract(paypal_mock, recorder, client):
    # given PayPal answers each operation
    route(paypal_mock, recorder, "POST", "/v1/oauth2/token", token_response())
    route(paypal_mock, recorder, "POST", PAYOUTS, created())
    route(
        paypal_mock,
        recorder,
        "GET",
        f"{PAYOUTS}/5UXD2E8A7EBQJ",
        httpx.Response(
            200,
            json={
                "total_items": 1,
                "total_pages": 1,
                "batch_header": {
                    "payout_batch_id": "5UXD2E8A7EBQJ",
                    "batch_status": "SUCCESS",
                    "sender_batch_header": {"sender_batch_id": "run-1-batch-1"},
                },
                "items": [item_json("ITEM1", "UNCLAIMED", "item-1")],
            },
        ),
    )
    route(
        paypal_mock,
        recorder,
        "GET",
        "/v1/payments/payouts-item/ITEM1",
        httpx.Response(200, json=item_json("ITEM1", "UNCLAIMED", "item-1")),
    )
    route(
        paypal_mock,
        recorder,
        "POST",
        "/v1/payments/payouts-item/ITEM1/cancel",
        httpx.Response(200, json=item_json("ITEM1", "RETURNED", "item-1")),
    )
    route(
        paypal_mock,
        recorder,
        "POST",
        "/v1/notifications/verify-webhook-signature",
        httpx.Response(200, json={"verification_status": "SUCCESS"}),
    )

    # when every operation is called once
    create(client)
    batch = client.get_batch("5UXD2E8A7EBQJ")
    item = client.get_item("ITEM1")
    cancelled = client.cancel_unclaimed_item("ITEM1")
    verified = client.verify_webhook_signature(
        headers=webhook_headers(), event_body=EVENT_BODY, webhook_id="1JE4291016473214C"
    )

    # then each request matched a published operation and its schemas
    assert [(r.method, r.url.path) for r in recorder.api_requests()] == [
        ("POST", PAYOUTS),
        ("GET", f"{PAYOUTS}/5UXD2E8A7EBQJ"),
        ("GET", "/v1/payments/payouts-item/ITEM1"),
        ("POST", "/v1/payments/payouts-item/ITEM1/cancel"),
        ("POST", "/v1/notifications/verify-webhook-signature"),
    ]
    assert recorder.violations == []
    assert len({r.headers["paypal-request-id"] for r in recorder.api_requests()}) == 5
    assert recorder.api_requests()[3].headers["paypal-request-id"] == "cancel-ITEM1"
    assert [i.transaction_status for i in batch.items] == ["UNCLAIMED"]
    assert (item.amount_minor, item.currency, item.sender_item_id) == (10000, "USD", "item-1")
    assert cancelled.transaction_status == "RETURNED"
    assert verified is True


def test_the_contract_check_rejects_what_paypal_would_reject():
    # given requests that depart from the contract in different ways
    def request(method, path, body=None, headers=None):
        content = json.dumps(body).encode() if body is not None else b""
        base = {"Authorization": "Bearer t", "PayPal-Request-Id": "r1"}
        if body is not None:
            base["Content-Type"] = "application/json"
        return httpx.Request(
            method, f"{BASE}{path}", content=content, headers=base | (headers or {})
        )

    # then each is caught
    assert contract_errors(request("POST", PAYOUTS, {"items": []})) == [
        '(root): "sender_batch_header" is a required property',
        "items: [] has less than 1 item",
    ]
    assert contract_errors(request("GET", "/v1/payments/payouts-item/" + "X" * 33)) == [
        'path parameter payout_item_id: "' + "X" * 33 + '" is longer than 32 characters'
    ]
    assert contract_errors(request("DELETE", f"{PAYOUTS}/ABC")) == [
        "DELETE /v1/payments/payouts/ABC is not an operation of PayPal's published API"
    ]
    assert contract_errors(request("POST", "/v1/payments/payouts-item/A/cancel", {"x": 1})) == [
        "payouts-item.cancel takes no request body"
    ]


# -- OAuth token -------------------------------------------------------------------------------


def test_the_token_is_cached_until_shortly_before_it_expires(paypal_mock, recorder, sleeps):
    # given a token valid for 100 s and a clock we move by hand
    now = [1000.0]
    route(
        paypal_mock,
        recorder,
        "POST",
        "/v1/oauth2/token",
        token_response("tok-1", 100),
        token_response("tok-2", 100),
    )
    route(
        paypal_mock,
        recorder,
        "GET",
        "/v1/payments/payouts-item/ITEM1",
        httpx.Response(200, json=item_json("ITEM1", "SUCCESS", "item-1")),
    )
    paypal = PayPalClient(BASE, CLIENT_ID, CLIENT_SECRET, sleep=sleeps, clock=lambda: now[0])

    # when called twice within the lifetime, then after 95 s (inside the 10 s safety margin)
    paypal.get_item("ITEM1")
    now[0] += 89
    paypal.get_item("ITEM1")
    now[0] += 6
    paypal.get_item("ITEM1")

    # then one token served the first two calls and a fresh one the third
    assert len(recorder.token_requests()) == 2
    assert [r.headers["authorization"] for r in recorder.api_requests()] == [
        "Bearer tok-1",
        "Bearer tok-1",
        "Bearer tok-2",
    ]


def test_a_401_fetches_one_fresh_token_and_repeats_the_call(paypal_mock, recorder, client):
    # given PayPal revoked the cached token
    route(
        paypal_mock,
        recorder,
        "POST",
        "/v1/oauth2/token",
        token_response("tok-1"),
        token_response("tok-2"),
    )
    route(
        paypal_mock,
        recorder,
        "POST",
        PAYOUTS,
        error(401, "AUTHENTICATION_FAILURE"),
        created(),
    )

    # when
    result = create(client)

    # then the call was repeated once with the new token and the same idempotency key
    assert result.payout_batch_id == "5UXD2E8A7EBQJ"
    assert [r.headers["authorization"] for r in recorder.api_requests()] == [
        "Bearer tok-1",
        "Bearer tok-2",
    ]
    assert {r.headers["paypal-request-id"] for r in recorder.api_requests()} == {"run-1-batch-1"}


def test_a_second_401_is_an_auth_error_without_more_attempts(paypal_mock, recorder, client, sleeps):
    # given PayPal refuses every token
    route(
        paypal_mock,
        recorder,
        "POST",
        "/v1/oauth2/token",
        token_response("tok-1"),
        token_response("tok-2"),
    )
    route(paypal_mock, recorder, "POST", PAYOUTS, error(401, "AUTHENTICATION_FAILURE"))

    # when / then
    with pytest.raises(PayPalAuthError):
        create(client)
    assert len(recorder.api_requests()) == 2
    assert sleeps == []


def test_refused_client_credentials_send_no_api_call(paypal_mock, recorder, client, sleeps):
    # given the token endpoint refuses our id/secret
    route(
        paypal_mock,
        recorder,
        "POST",
        "/v1/oauth2/token",
        httpx.Response(401, json={"error": "invalid_client", "error_description": "failed"}),
    )

    # when / then
    with pytest.raises(PayPalAuthError) as raised:
        create(client)
    assert raised.value.name == "invalid_client"
    assert len(recorder.token_requests()) == 1
    assert recorder.api_requests() == []
    assert sleeps == []


# -- retries -----------------------------------------------------------------------------------


def test_5xx_answers_are_retried_with_the_same_request_id_and_body(
    paypal_mock, recorder, client, sleeps
):
    # given PayPal fails twice, then accepts
    route(paypal_mock, recorder, "POST", "/v1/oauth2/token", token_response())
    route(
        paypal_mock,
        recorder,
        "POST",
        PAYOUTS,
        error(500, "INTERNAL_SERVER_ERROR"),
        error(503, "SERVICE_UNAVAILABLE"),
        created(),
    )

    # when
    result = create(client)

    # then three identical attempts, with exponential backoff between them
    assert result.payout_batch_id == "5UXD2E8A7EBQJ"
    sent = recorder.api_requests()
    assert len(sent) == 3
    assert {r.headers["paypal-request-id"] for r in sent} == {"run-1-batch-1"}
    assert {r.content for r in sent} == {sent[0].content}
    assert json.loads(sent[0].content)["sender_batch_header"]["sender_batch_id"] == "run-1-batch-1"
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 1.5


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("read timed out"),
        httpx.ConnectTimeout("connect timed out"),
        httpx.ConnectError("connection refused"),
        httpx.RemoteProtocolError("server disconnected"),
    ],
    ids=["read-timeout", "connect-timeout", "connect-error", "disconnect"],
)
def test_network_errors_and_timeouts_are_retried(paypal_mock, recorder, client, failure):
    # given one network failure before PayPal answers
    route(paypal_mock, recorder, "POST", "/v1/oauth2/token", token_response())
    route(paypal_mock, recorder, "POST", PAYOUTS, failure, created())

    # when
    result = create(client)

    # then
    assert result.payout_batch_id == "5UXD2E8A7EBQJ"
    sent = recorder.api_requests()
    assert len(sent) == 2
    assert sent[0].content == sent[1].content
    assert sent[0].headers["paypal-request-id"] == sent[1].headers["paypal-request-id"]


def test_retries_run_out_as_paypal_unavailable(paypal_mock, recorder, client, sleeps):
    # given PayPal keeps failing
    route(paypal_mock, recorder, "POST", "/v1/oauth2/token", token_response())
    route(paypal_mock, recorder, "POST", PAYOUTS, error(502, "BAD_GATEWAY"))

    # when / then: 1 + max_retries attempts, all with the same id, then "unknown"
    with pytest.raises(PayPalUnavailable) as raised:
        create(client)
    assert raised.value.attempts == 4
    assert raised.value.status == 502
    assert raised.value.request_id == "run-1-batch-1"
    assert len(recorder.api_requests()) == 4
    assert {r.headers["paypal-request-id"] for r in recorder.api_requests()} == {"run-1-batch-1"}
    assert len(sleeps) == 3


def test_429_waits_as_long_as_retry_after_says(paypal_mock, recorder, client, sleeps):
    # given PayPal throttles once
    route(paypal_mock, recorder, "POST", "/v1/oauth2/token", token_response())
    throttled = error(429, "RATE_LIMIT_REACHED")
    throttled.headers["Retry-After"] = "7"
    route(paypal_mock, recorder, "POST", PAYOUTS, throttled, created())

    # when
    create(client)

    # then
    assert sleeps == [7.0]
    assert len(recorder.api_requests()) == 2


@pytest.mark.parametrize(
    ("status", "name", "error_type"),
    [
        (400, "VALIDATION_ERROR", PayPalValidationError),
        (422, "UNPROCESSABLE_ENTITY", PayPalValidationError),
        (403, "NOT_AUTHORIZED", PayPalError),
        (409, "RESOURCE_CONFLICT", PayPalError),
    ],
)
def test_other_4xx_answers_are_never_retried(
    paypal_mock, recorder, client, sleeps, status, name, error_type
):
    # given PayPal refuses the request
    route(paypal_mock, recorder, "POST", "/v1/oauth2/token", token_response())
    route(
        paypal_mock,
        recorder,
        "POST",
        PAYOUTS,
        error(status, name, details=[{"field": "items[0].receiver", "issue": "invalid"}]),
    )

    # when / then
    with pytest.raises(error_type) as raised:
        create(client)
    assert type(raised.value) is error_type
    assert (raised.value.status, raised.value.name, raised.value.debug_id) == (
        status,
        name,
        "dbg123",
    )
    assert len(recorder.api_requests()) == 1
    assert sleeps == []


def test_404_is_not_found(paypal_mock, recorder, client):
    route(paypal_mock, recorder, "POST", "/v1/oauth2/token", token_response())
    route(
        paypal_mock,
        recorder,
        "GET",
        "/v1/payments/payouts-item/NOPE",
        error(404, "INVALID_RESOURCE_ID"),
    )

    with pytest.raises(PayPalNotFound):
        client.get_item("NOPE")
    assert len(recorder.api_requests()) == 1


# -- duplicate sender_batch_id ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "payout_batch_id"),
    [
        (
            error(
                400,
                "USER_BUSINESS_ERROR",
                "User business error.",
                details=[{"field": "SENDER_BATCH_ID", "issue": "Duplicate batch request"}],
            ),
            None,
        ),
        (
            error(
                400,
                "USER_BUSINESS_ERROR",
                "User business error.",
                details=[
                    {
                        "field": "SENDER_BATCH_ID",
                        "location": "body",
                        "issue": "Batch with given sender_batch_id already exists",
                    }
                ],
                links=[{"href": f"{BASE}{PAYOUTS}/ORIG12345", "rel": "self", "method": "GET"}],
            ),
            "ORIG12345",
        ),
        (
            error(
                400,
                "USER_BUSINESS_ERROR",
                details=[
                    {
                        "field": "SENDER_BATCH_ID",
                        "issue": "Duplicate batch request",
                        "link": [{"href": f"{BASE}{PAYOUTS}/INDETAIL1", "rel": "self"}],
                    }
                ],
            ),
            "INDETAIL1",
        ),
        (error(422, "DUPLICATE_REQUEST_ID", "Duplicate request"), None),
    ],
    ids=["user-business-error", "linked", "link-in-detail", "duplicate-request-id"],
)
def test_a_reused_sender_batch_id_is_a_duplicate_batch_error(
    paypal_mock, recorder, client, sleeps, answer, payout_batch_id
):
    # given PayPal already has this sender_batch_id
    route(paypal_mock, recorder, "POST", "/v1/oauth2/token", token_response())
    route(paypal_mock, recorder, "POST", PAYOUTS, answer)

    # when / then
    with pytest.raises(DuplicateBatchError) as raised:
        create(client)
    assert raised.value.sender_batch_id == "run-1-batch-1"
    assert raised.value.payout_batch_id == payout_batch_id
    assert len(recorder.api_requests()) == 1
    assert sleeps == []


def test_a_business_error_about_something_else_is_not_a_duplicate(paypal_mock, recorder, client):
    route(paypal_mock, recorder, "POST", "/v1/oauth2/token", token_response())
    route(
        paypal_mock,
        recorder,
        "POST",
        PAYOUTS,
        error(400, "USER_BUSINESS_ERROR", details=[{"field": "", "issue": "Insufficient funds"}]),
    )

    with pytest.raises(PayPalValidationError) as raised:
        create(client)
    assert not isinstance(raised.value, DuplicateBatchError)


def test_a_timeout_then_a_duplicate_answer_means_paypal_has_the_batch(
    paypal_mock, recorder, client
):
    # given PayPal accepted the first attempt but the answer never arrived
    route(paypal_mock, recorder, "POST", "/v1/oauth2/token", token_response())
    route(
        paypal_mock,
        recorder,
        "POST",
        PAYOUTS,
        httpx.ReadTimeout("read timed out"),
        error(
            400,
            "USER_BUSINESS_ERROR",
            details=[{"field": "SENDER_BATCH_ID", "issue": "Duplicate batch request"}],
        ),
    )

    # when / then: the retry (same id, same body) proves the batch exists
    with pytest.raises(DuplicateBatchError):
        create(client)
    sent = recorder.api_requests()
    assert len(sent) == 2 and sent[0].content == sent[1].content


# -- refused before sending ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "items"),
    [
        ({"sender_batch_id": ""}, ITEMS),
        ({"sender_batch_id": "x" * 257}, ITEMS),
        ({"email_message": "line one\nline two"}, ITEMS),
        ({"email_subject": "nul\x00"}, ITEMS),
        ({}, []),
        ({}, [PayoutItem("a", "a@example.com", 0, "USD")]),
        ({}, [PayoutItem("a", "a@example.com", -100, "USD")]),
        ({}, [PayoutItem("a", "a@example.com", True, "USD")]),
        ({}, [PayoutItem("a", "a@example.com", 10.5, "USD")]),
        ({}, [PayoutItem("a", "a@example.com", 100, "US")]),
        ({}, [PayoutItem("a", "not-an-email", 100, "USD")]),
        ({}, [PayoutItem("x" * 64, "a@example.com", 100, "USD")]),
        ({}, [PayoutItem("a", "a@example.com", 100, "USD"), PayoutItem("a", "b@e.com", 1, "USD")]),
    ],
)
def test_invalid_batches_are_refused_before_anything_is_sent(
    paypal_mock, recorder, client, kwargs, items
):
    # when
    args = {
        "sender_batch_id": "run-1",
        "email_subject": "s",
        "email_message": "m",
        "items": items,
    } | kwargs
    with pytest.raises(PayPalValidationError) as raised:
        client.create_batch(**args)

    # then nothing left the process, not even a token request
    assert raised.value.name == "CLIENT_VALIDATION"
    assert recorder.requests == []


# -- pages -----------------------------------------------------------------------------------


def page(n: int, *, total_pages: int | None, item_ids: list[str], next_link: bool = False):
    body = {
        "batch_header": {
            "payout_batch_id": "5UXD2E8A7EBQJ",
            "batch_status": "SUCCESS",
            "sender_batch_header": {"sender_batch_id": "run-1-batch-1"},
        },
        "items": [item_json(i, "SUCCESS", f"s-{i}") for i in item_ids],
        "links": [{"href": f"{BASE}{PAYOUTS}/5UXD2E8A7EBQJ?page={n}", "rel": "self"}],
    }
    if next_link:
        body["links"].append({"href": f"{BASE}{PAYOUTS}/5UXD2E8A7EBQJ?page={n + 1}", "rel": "next"})
    if total_pages is not None:
        body["total_pages"] = total_pages
        body["total_items"] = 5
    return httpx.Response(200, json=body)


@pytest.mark.parametrize("with_totals", [True, False], ids=["total_pages", "next-links"])
def test_get_batch_follows_every_page(paypal_mock, recorder, client, with_totals):
    # given a batch of 5 items served 2 per page
    total = 3 if with_totals else None
    route(paypal_mock, recorder, "POST", "/v1/oauth2/token", token_response())
    route(
        paypal_mock,
        recorder,
        "GET",
        f"{PAYOUTS}/5UXD2E8A7EBQJ",
        page(1, total_pages=total, item_ids=["A1", "A2"], next_link=True),
        page(2, total_pages=total, item_ids=["A3", "A4"], next_link=True),
        page(3, total_pages=total, item_ids=["A5"]),
    )

    # when
    batch = client.get_batch("5UXD2E8A7EBQJ", page_size=2)

    # then
    assert [i.payout_item_id for i in batch.items] == ["A1", "A2", "A3", "A4", "A5"]
    assert [dict(r.url.params) for r in recorder.api_requests()] == [
        {"page": str(n), "page_size": "2", "total_required": "true"} for n in (1, 2, 3)
    ]
    assert batch.batch_status == "SUCCESS"


# -- webhook verification ------------------------------------------------------------------------

EVENT_BODY = (
    b'{"id":"WH-0KL68823YD6541644-6XA87591MF0345523","event_version":"1.0",'
    b'"create_time":"2026-11-25T10:00:00Z","resource_type":"payouts_item",'
    b'"event_type":"PAYMENT.PAYOUTS-ITEM.SUCCEEDED","summary":"A payout item has succeeded",'
    b'"resource":{"payout_item_id":"ITEM1","transaction_status":"SUCCESS","amount":1.10}}'
)


def webhook_headers(**overrides):
    headers = {
        "Paypal-Transmission-Id": "69cd13f0-d67a-11e5-baa3-778b53f4ae55",
        "Paypal-Transmission-Time": "2026-11-25T10:00:01Z",
        "Paypal-Transmission-Sig": "lmI95Jx3Y9nhR5SJWlHVIWpg4AgFk7n9bCHSRxbrd8A9zrhdu2rMyF",
        "Paypal-Cert-Url": "https://api.paypal.com/v1/notifications/certs/CERT-360caa42",
        "Paypal-Auth-Algo": "SHA256withRSA",
    }
    return headers | overrides


@pytest.mark.parametrize(("answer", "verified"), [("SUCCESS", True), ("FAILURE", False)])
def test_verify_webhook_signature_passes_the_event_on_byte_for_byte(
    paypal_mock, recorder, client, answer, verified
):
    # given
    route(paypal_mock, recorder, "POST", "/v1/oauth2/token", token_response())
    route(
        paypal_mock,
        recorder,
        "POST",
        "/v1/notifications/verify-webhook-signature",
        httpx.Response(200, json={"verification_status": answer}),
    )

    # when
    result = client.verify_webhook_signature(
        headers=webhook_headers(), event_body=EVENT_BODY, webhook_id="1JE4291016473214C"
    )

    # then the raw event (1.10 stays 1.10) travels inside a contract-valid body
    assert result is verified
    [request] = recorder.api_requests()
    assert request.content.endswith(b',"webhook_event":' + EVENT_BODY + b"}")
    assert json.loads(request.content) | {"webhook_event": None} == {
        "auth_algo": "SHA256withRSA",
        "cert_url": "https://api.paypal.com/v1/notifications/certs/CERT-360caa42",
        "transmission_id": "69cd13f0-d67a-11e5-baa3-778b53f4ae55",
        "transmission_sig": "lmI95Jx3Y9nhR5SJWlHVIWpg4AgFk7n9bCHSRxbrd8A9zrhdu2rMyF",
        "transmission_time": "2026-11-25T10:00:01Z",
        "webhook_id": "1JE4291016473214C",
        "webhook_event": None,
    }


@pytest.mark.parametrize(
    ("headers", "body", "webhook_id"),
    [
        (webhook_headers(**{"Paypal-Transmission-Sig": ""}), EVENT_BODY, "1JE4291016473214C"),
        ({}, EVENT_BODY, "1JE4291016473214C"),
        (webhook_headers(**{"Paypal-Cert-Url": "not a url"}), EVENT_BODY, "1JE4291016473214C"),
        (webhook_headers(**{"Paypal-Transmission-Time": "yesterday"}), EVENT_BODY, "1JE42"),
        (webhook_headers(**{"Paypal-Transmission-Id": "12345"}), EVENT_BODY, "1JE4291016473214C"),
        (webhook_headers(), b"not json", "1JE4291016473214C"),
        (webhook_headers(), b"[1, 2]", "1JE4291016473214C"),
        (webhook_headers(), EVENT_BODY, ""),
        (webhook_headers(), EVENT_BODY, "bad-id!"),
    ],
)
def test_malformed_deliveries_are_not_verified_and_not_sent(
    paypal_mock, recorder, client, headers, body, webhook_id
):
    assert (
        client.verify_webhook_signature(headers=headers, event_body=body, webhook_id=webhook_id)
        is False
    )
    assert recorder.requests == []


# -- hygiene -------------------------------------------------------------------------------------


def test_logs_carry_ids_but_never_secrets_tokens_or_emails(paypal_mock, recorder, client, caplog):
    # given a refresh on 401 and a retry, logged at DEBUG
    caplog.set_level(logging.DEBUG)
    route(
        paypal_mock,
        recorder,
        "POST",
        "/v1/oauth2/token",
        token_response("tok-SECRET-1"),
        token_response("tok-SECRET-2"),
    )
    route(
        paypal_mock,
        recorder,
        "POST",
        PAYOUTS,
        error(401, "AUTHENTICATION_FAILURE"),
        error(500, "INTERNAL_SERVER_ERROR"),
        created(),
    )

    # when
    create(client)

    # then
    assert "run-1-batch-1" in caplog.text
    for secret in (CLIENT_SECRET, "tok-SECRET", "jane-pp@example.com", "kenji-pp@example.com"):
        assert secret not in caplog.text
    assert CLIENT_SECRET not in repr(client)
    assert "jane-pp" not in repr(ITEMS[0])


def test_get_client_reads_the_settings(settings):
    settings.PAYPAL_API_BASE = "http://127.0.0.1:8765/"
    settings.PAYPAL_CLIENT_ID = "id-from-settings"
    settings.PAYPAL_CLIENT_SECRET = "secret-from-settings"

    paypal = get_client()

    assert paypal.base_url == "http://127.0.0.1:8765"
    assert paypal._client_id == "id-from-settings"
    assert paypal._client_secret == "secret-from-settings"
    paypal.close()


@pytest.mark.parametrize(
    ("value", "currency", "minor"),
    [
        ("100.00", "USD", 10000),
        ("99.99", "USD", 9999),
        ("1500", "JPY", 1500),
        ("1.234", "KWD", 1234),
        ("0.5", "EUR", 50),
    ],
)
def test_parse_amount_is_exact(value, currency, minor):
    assert parse_amount(value, currency) == minor


@pytest.mark.parametrize(
    ("value", "currency"), [("1500.5", "JPY"), ("1.001", "USD"), ("abc", "USD"), ("NaN", "USD")]
)
def test_parse_amount_refuses_inexact_values(value, currency):
    with pytest.raises(ValueError):
        parse_amount(value, currency)


def test_a_token_endpoint_5xx_is_retried(paypal_mock, recorder, client, sleeps):
    route(
        paypal_mock,
        recorder,
        "POST",
        "/v1/oauth2/token",
        httpx.Response(503, json={"error": "unavailable"}),
        token_response(),
    )
    route(paypal_mock, recorder, "POST", PAYOUTS, created())

    result = create(client)

    assert result.payout_batch_id == "5UXD2E8A7EBQJ"
    assert len(recorder.token_requests()) == 2
    assert len(recorder.api_requests()) == 1
    assert len(sleeps) == 1


def test_an_answer_in_an_unexpected_shape_is_a_paypal_error(paypal_mock, recorder, client):
    route(paypal_mock, recorder, "POST", "/v1/oauth2/token", token_response())
    route(
        paypal_mock,
        recorder,
        "GET",
        "/v1/payments/payouts-item/ITEM1",
        httpx.Response(200, json={"payout_item_id": "ITEM1", "payout_item": {"amount": {}}}),
    )

    with pytest.raises(PayPalError) as raised:
        client.get_item("ITEM1")
    assert raised.value.name == "BAD_RESPONSE"


@pytest.mark.parametrize(("client_id", "secret"), [("", "s"), ("id", ""), ("", "")])
def test_get_client_refuses_missing_credentials(settings, client_id, secret):
    settings.PAYPAL_CLIENT_ID = client_id
    settings.PAYPAL_CLIENT_SECRET = secret

    with pytest.raises(PayPalAuthError) as raised:
        get_client()
    assert raised.value.name == "NOT_CONFIGURED"
