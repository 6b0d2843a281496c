"""Demo affiliates for `manage.py demo` (idempotent): one approved, one pending approval."""

from __future__ import annotations

from typing import TextIO

from . import api

DEMO_PASSWORD = "kangrow-demo-pass"
APPROVED_EMAIL = "affiliate@kangrow.local"
PENDING_EMAIL = "pending@kangrow.local"


def load(stdout: TextIO) -> None:
    approved, _ = api.upsert_affiliate(
        email=APPROVED_EMAIL, password=DEMO_PASSWORD, verified=True, approved=True
    )
    pending, _ = api.upsert_affiliate(
        email=PENDING_EMAIL, password=DEMO_PASSWORD, verified=True, approved=False
    )
    stdout.write(
        f"Approved affiliate: {approved.email} / {DEMO_PASSWORD}\n"
        f"Affiliate waiting for approval: {pending.email} / {DEMO_PASSWORD}\n"
    )
