"""Builders for tests. Rows with invariants (enrollments) go through the api."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from kangrow.programs import api


def make_affiliate(
    email: str = "jane@example.com",
    *,
    first_name: str | None = "Jane",
    verified: bool = True,
    approved: bool = True,
    **extra: Any,
) -> Any:
    return get_user_model().objects.create_user(
        email,
        "a long enough password",
        first_name=first_name,
        email_verified=verified,
        verified=verified,
        confirmed_at=timezone.now() if verified else None,
        approved_affiliate=approved,
        **extra,
    )


def make_app(slug: str = "invoicepro", **fields: Any) -> Any:
    defaults = {
        "name": slug.title(),
        "site_url": f"https://{slug}.example/",
        "landing_url": f"https://{slug}.example/start?plan=pro",
        "currency": "USD",
    }
    app, _, _ = api.upsert_app(slug=slug, fields={**defaults, **fields})
    return app


def make_campaign(slug: str = "launch", *, app_slug: str = "invoicepro", **fields: Any) -> Any:
    defaults = {"name": slug.title(), "commission_bps": 3000, "recurring": True, "cookie_days": 60}
    campaign, _ = api.upsert_campaign(slug=slug, app_slug=app_slug, fields={**defaults, **fields})
    return campaign
