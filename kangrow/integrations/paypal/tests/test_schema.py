"""The vendored PayPal contracts and the request checker built on them."""

from __future__ import annotations

from pathlib import Path

import pytest

from kangrow.integrations.paypal import schema

SHARED_SPECS = Path(__file__).resolve().parents[5] / "shared" / "specs"


@pytest.mark.parametrize("name", [schema.PAYOUTS_SPEC, schema.WEBHOOKS_SPEC])
def test_the_vendored_spec_is_paypals_shared_original(name):
    original = SHARED_SPECS / name
    if not original.exists():
        pytest.skip("../shared/specs is not next to this checkout")
    assert (schema.SPEC_DIR / name).read_bytes() == original.read_bytes()


def test_operations_are_found_by_method_and_path():
    operation = schema.find_operation("POST", "/v1/payments/payouts-item/ABC123/cancel")

    assert operation.operation_id == "payouts-item.cancel"
    assert operation.path_params == {"payout_item_id": "ABC123"}
    assert schema.find_operation("GET", "/v1/payments/payouts").__class__ is type(None)
    assert schema.find_operation(
        "POST", "/v1/notifications/verify-webhook-signature"
    ).operation_id == ("verify-webhook-signature.post")


def test_a_conforming_create_batch_request_has_no_errors():
    body = {
        "sender_batch_header": {"sender_batch_id": "run-1", "email_subject": "Hi"},
        "items": [
            {
                "recipient_type": "EMAIL",
                "amount": {"value": "100.00", "currency": "USD"},
                "receiver": "jane@example.com",
                "sender_item_id": "item-1",
            }
        ],
    }

    assert (
        schema.request_errors(
            "POST",
            "/v1/payments/payouts",
            headers={"PayPal-Request-Id": "run-1"},
            body=body,
            has_body=True,
        )
        == []
    )


def test_query_parameters_are_checked_against_their_declared_types():
    errors = schema.request_errors(
        "GET",
        "/v1/payments/payouts/ABC",
        query={"page": "0", "page_size": "5000", "total_required": "yes", "sort": "x"},
    )

    assert errors == [
        "query parameter page_size: 5000 is greater than the maximum of 1000",
        'query parameter total_required: "yes" is not of type "boolean"',
        "query parameter sort is not declared",
    ]


def test_a_header_longer_than_declared_is_an_error():
    errors = schema.request_errors(
        "POST",
        "/v1/payments/payouts",
        headers={"paypal-request-id": "x" * 1001},
        body={
            "sender_batch_header": {},
            "items": [{"amount": {"currency": "USD", "value": "1"}, "receiver": "a"}],
        },
        has_body=True,
    )

    assert errors == [
        'header parameter PayPal-Request-Id: "' + "x" * 1001 + '" is longer than 1000 characters'
    ]
