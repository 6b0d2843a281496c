"""Fixtures for the PayPal adapter: a respx router that checks every request against PayPal's
published contract, and the in-process fake PayPal server."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from kangrow.integrations.paypal import PayPalClient
from kangrow.integrations.paypal import schema as paypal_schema
from kangrow.integrations.paypal.fake import FakePayPal

BASE = "https://api-m.sandbox.paypal.com"
CLIENT_ID = "client-id-123"
CLIENT_SECRET = "client-secret-456"


def contract_errors(request: httpx.Request) -> list[str]:
    """How a request the adapter sent departs from PayPal's contract ([] = it conforms)."""
    path = request.url.path
    if request.method == "POST" and path == paypal_schema.TOKEN_PATH:
        errors = []
        form = parse_qs(request.content.decode())
        if form != {"grant_type": ["client_credentials"]}:
            errors.append(f"token form is {form}")
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if (
            scheme != "Basic"
            or base64.b64decode(encoded).decode() != f"{CLIENT_ID}:{CLIENT_SECRET}"
        ):
            errors.append("token request lacks Basic client credentials")
        return errors
    body: Any = None
    has_body = bool(request.content)
    if has_body:
        if request.headers.get("content-type") != "application/json":
            return ["a JSON body must be sent as application/json"]
        body = json.loads(request.content)
    errors = paypal_schema.request_errors(
        request.method,
        path,
        query=dict(request.url.params),
        headers=dict(request.headers),
        body=body,
        has_body=has_body,
    )
    if not request.headers.get("authorization", "").startswith("Bearer "):
        errors.append("API call without a bearer token")
    if not request.headers.get("paypal-request-id"):
        errors.append("API call without a PayPal-Request-Id")
    return errors


class Recorder:
    """Every request the client sent, each checked against the contract as it arrives."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.violations: list[str] = []

    def __call__(self, request: httpx.Request) -> None:
        self.requests.append(request)
        for error in contract_errors(request):
            self.violations.append(f"{request.method} {request.url.path}: {error}")

    def api_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path != paypal_schema.TOKEN_PATH]

    def token_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == paypal_schema.TOKEN_PATH]


def token_response(token: str = "tok-1", expires_in: int = 32400) -> httpx.Response:
    return httpx.Response(
        200,
        json={"access_token": token, "token_type": "Bearer", "expires_in": expires_in},
    )


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def paypal_mock(recorder: Recorder) -> Iterator[respx.MockRouter]:
    """respx router on the sandbox URL; every request passes through `recorder`.

    The test fails at teardown if any request departed from PayPal's contract.
    """
    with respx.mock(base_url=BASE, assert_all_called=False) as router:  # unrouted calls fail
        yield router
    assert recorder.violations == []


def route(router: respx.MockRouter, recorder: Recorder, method: str, path: str, *responses: Any):
    """Answer `method path` with `responses` in turn (an exception instance is raised)."""
    answers = list(responses)

    def side_effect(request: httpx.Request) -> httpx.Response:
        recorder(request)
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return router.route(method=method, path=path).mock(side_effect=side_effect)


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(paypal_mock: respx.MockRouter, sleeps: Sleeps) -> Iterator[PayPalClient]:
    with PayPalClient(
        BASE, CLIENT_ID, CLIENT_SECRET, max_retries=3, backoff=0.5, sleep=sleeps
    ) as paypal:
        yield paypal


@pytest.fixture
def fake() -> Iterator[FakePayPal]:
    with FakePayPal(hang_seconds=1.0) as server:
        yield server


@pytest.fixture
def fake_client(fake: FakePayPal) -> Iterator[PayPalClient]:
    with PayPalClient(
        fake.base_url,
        fake.client_id,
        fake.client_secret,
        timeout=httpx.Timeout(connect=2.0, read=0.4, write=2.0, pool=2.0),
        max_retries=2,
        backoff=0.0,
    ) as paypal:
        yield paypal
