"""Test helpers for the JSON API: a program, affiliates, keys and tokens built through `api`.

Used by the tests only (nothing in the running site imports this module).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.test import Client

from kangrow.accounts import api as accounts_api
from kangrow.apikeys import api as apikeys_api
from kangrow.programs import api as programs_api

PASSWORD = "correct horse battery staple"
API = "/api/v1"


@dataclass
class Program:
    app: Any
    other_app: Any
    campaign: Any
    other_campaign: Any


def make_program() -> Program:
    app, _, _ = programs_api.upsert_app(
        slug="invoicepro",
        fields={
            "name": "InvoicePro",
            "landing_url": "https://invoicepro.example/",
            "currency": "USD",
        },
    )
    other, _, _ = programs_api.upsert_app(
        slug="mailpilot",
        fields={
            "name": "MailPilot",
            "landing_url": "https://mailpilot.example/",
            "currency": "USD",
        },
    )
    campaign, _ = programs_api.upsert_campaign(
        slug="launch",
        app_slug="invoicepro",
        fields={
            "name": "Launch",
            "commission_bps": 3000,
            "recurring": True,
            "customer_discount_bps": 2000,
        },
    )
    other_campaign, _ = programs_api.upsert_campaign(
        slug="mail-launch",
        app_slug="mailpilot",
        fields={"name": "Mail launch", "commission_bps": 3000, "recurring": True},
    )
    return Program(app=app, other_app=other, campaign=campaign, other_campaign=other_campaign)


def make_affiliate(email: str, *, verified: bool = True, approved: bool = True) -> Any:
    user, _ = accounts_api.upsert_affiliate(
        email=email, password=PASSWORD, verified=verified, approved=approved
    )
    return user


def app_key(app_id: Any) -> str:
    return apikeys_api.create_api_key(kind="app", name="test app key", app_id=app_id)[1]


def staff_key(*scopes: str) -> str:
    return apikeys_api.create_api_key(kind="staff", name="test staff key", scopes=scopes)[1]


def log_in_api(client: Client, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = client.post(
        f"{API}/auth/token",
        {"email": email, "password": password, "device_info": "pytest"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    return response.json()


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}
