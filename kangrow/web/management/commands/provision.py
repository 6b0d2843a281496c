"""manage.py provision FILE.json: wire apps, campaigns, affiliates and enrollments from a file.

Idempotent (a second run changes nothing; changed fields update), all in one transaction, and
a bad file gets an error naming the entry and field (e.g.
`campaigns[1].commission_percent: recurring campaigns pay at least 30%`) and changes nothing.
Prints JSON: {"apps": {slug: {"id", "signing_secret"?}}, "campaigns": {slug: {"id"}},
"affiliates": {email: {"id"}}, "enrollments": [{"affiliate", "campaign", "coupon_code",
"token", "link"}]}. A generated signing secret is printed once, when the app is created.

`paypal_email` on an affiliate is stored as confirmed (no confirmation email is sent; the
affiliate is told of a change only when they change it themselves in the portal).
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.dateparse import parse_datetime

from kangrow.accounts import api as accounts
from kangrow.payouts import api as payouts
from kangrow.programs import api as programs

SECTIONS = ("apps", "campaigns", "affiliates", "enrollments")
APP_TEXT = (
    "name",
    "site_url",
    "landing_url",
    "goals",
    "ideal_customer",
    "value_proposition",
    "pricing",
    "talking_points",
    "dos_and_donts",
    "currency",
    "signing_secret",
    "stripe_endpoint_secret",
    "brand_color",
)
# input name -> api field, for errors raised by the api
CAMPAIGN_FIELD_NAMES = {
    "commission_bps": "commission_percent",
    "customer_discount_bps": "customer_discount_percent",
}


class EntryError(Exception):
    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def _text(entry: dict[str, Any], key: str, *, required: bool = False, limit: int = 10_000) -> Any:
    if key not in entry or entry[key] is None:
        if required:
            raise EntryError(key, "is required")
        return None
    value = entry[key]
    if not isinstance(value, str):
        raise EntryError(key, "must be a string")
    if "\x00" in value:
        raise EntryError(key, "contains a NUL character, which is not allowed")
    if required and not value.strip():
        raise EntryError(key, "is required")
    if len(value) > limit:
        raise EntryError(key, f"must be at most {limit} characters")
    return value


def _bool(entry: dict[str, Any], key: str) -> bool | None:
    if key not in entry or entry[key] is None:
        return None
    if not isinstance(entry[key], bool):
        raise EntryError(key, "must be true or false")
    return entry[key]


def _int(entry: dict[str, Any], key: str, *, minimum: int = 0) -> int | None:
    if key not in entry or entry[key] is None:
        return None
    value = entry[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise EntryError(key, "must be a whole number")
    if value < minimum or value > 100_000:
        raise EntryError(key, f"must be between {minimum} and 100000")
    return value


def _bps(entry: dict[str, Any], key: str) -> int | None:
    """A percentage (30, 32.5, "30") as basis points, exact to 0.01%."""
    if key not in entry or entry[key] is None:
        return None
    value = entry[key]
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise EntryError(key, "must be a number of percent")
    try:
        bps = Decimal(str(value)) * 100
    except InvalidOperation:
        raise EntryError(key, "must be a number of percent")
    if not bps.is_finite() or bps != bps.to_integral_value():
        raise EntryError(key, "must have at most two decimals")
    if not 0 <= bps <= 10_000:
        raise EntryError(key, "must be between 0 and 100")
    return int(bps)


def _datetime(entry: dict[str, Any], key: str) -> datetime | None:
    text = _text(entry, key, limit=64)
    if text is None:
        return None
    try:
        value = parse_datetime(text)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise EntryError(key, "must be an ISO 8601 date-time with a time zone")
    return value


def _choice(entry: dict[str, Any], key: str, choices: tuple[str, ...]) -> str | None:
    value = _text(entry, key, limit=20)
    if value is not None and value not in choices:
        raise EntryError(key, f"must be one of {', '.join(choices)}")
    return value


def _unknown(entry: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(entry) - allowed)
    if extra:
        raise EntryError(extra[0], "is not a known field")


class Command(BaseCommand):
    help = "Create or update apps, campaigns, affiliates and enrollments from a JSON file."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("file", help="The JSON file (see docs: contract, provision).")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        data = self._load(options["file"])
        output: dict[str, Any] = {"apps": {}, "campaigns": {}, "affiliates": {}, "enrollments": []}
        section, index = "", 0
        try:
            with transaction.atomic():
                for section in SECTIONS:
                    for index, entry in enumerate(data.get(section) or []):  # noqa: B007
                        if not isinstance(entry, dict):
                            raise EntryError(None, "must be an object")
                        getattr(self, f"_{section}")(entry, output)
        except EntryError as exc:
            where = f"{section}[{index}]" + (f".{exc.field}" if exc.field else "")
            raise CommandError(f"{where}: {exc.message}")
        self.stdout.write(json.dumps(output, indent=2, sort_keys=False))

    def _load(self, name: str) -> dict[str, Any]:
        try:
            text = Path(name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{name}: cannot read the file ({exc.__class__.__name__})")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CommandError(f"{name}: not valid JSON (line {exc.lineno}, column {exc.colno})")
        if not isinstance(data, dict):
            raise CommandError(f"{name}: the top level must be an object")
        for key in data:
            if key not in SECTIONS:
                raise CommandError(f"{key}: is not a known section ({', '.join(SECTIONS)})")
            if data[key] is not None and not isinstance(data[key], list):
                raise CommandError(f"{key}: must be a list")
        return data

    # --- sections ------------------------------------------------------------------------------

    def _apps(self, entry: dict[str, Any], output: dict[str, Any]) -> None:
        _unknown(entry, {"slug", "is_active", *APP_TEXT})
        slug = _text(entry, "slug", required=True, limit=60)
        fields: dict[str, Any] = {}
        for key in APP_TEXT:
            value = _text(entry, key)
            if value is not None:
                fields[key] = value
        active = _bool(entry, "is_active")
        if active is not None:
            fields["is_active"] = active
        if slug in output["apps"]:
            raise EntryError("slug", f"app {slug!r} appears twice in the file")
        try:
            app, created, secret = programs.upsert_app(slug=slug, fields=fields)
        except programs.ProgramError as exc:
            raise EntryError(exc.field, exc.message)
        result: dict[str, Any] = {"id": str(app.id), "created": created}
        if secret:
            result["signing_secret"] = secret
        output["apps"][slug] = result

    def _campaigns(self, entry: dict[str, Any], output: dict[str, Any]) -> None:
        _unknown(
            entry,
            {
                "app",
                "slug",
                "name",
                "description",
                "landing_url",
                "commission_percent",
                "recurring",
                "recurring_months",
                "cookie_days",
                "hold_days",
                "customer_discount_percent",
                "visibility",
                "status",
                "starts_at",
                "ends_at",
            },
        )
        app_slug = _text(entry, "app", required=True, limit=60)
        slug = _text(entry, "slug", required=True, limit=60)
        if slug in output["campaigns"]:
            raise EntryError("slug", f"campaign {slug!r} appears twice in the file")
        fields: dict[str, Any] = {}
        for key in ("name", "description", "landing_url"):
            value = _text(entry, key)
            if value is not None:
                fields[key] = value
        checks = {
            "commission_bps": _bps(entry, "commission_percent"),
            "customer_discount_bps": _bps(entry, "customer_discount_percent"),
            "recurring": _bool(entry, "recurring"),
            "recurring_months": _int(entry, "recurring_months", minimum=1),
            "cookie_days": _int(entry, "cookie_days"),
            "hold_days": _int(entry, "hold_days"),
            "visibility": _choice(entry, "visibility", ("open", "approval")),
            "status": _choice(entry, "status", ("draft", "active", "paused", "ended")),
            "starts_at": _datetime(entry, "starts_at"),
            "ends_at": _datetime(entry, "ends_at"),
        }
        fields.update({k: v for k, v in checks.items() if v is not None})
        # Explicit nulls clear the optional limits.
        for key, api_key in (
            ("recurring_months", "recurring_months"),
            ("customer_discount_percent", "customer_discount_bps"),
        ):
            if key in entry and entry[key] is None:
                fields[api_key] = None
        try:
            campaign, created = programs.upsert_campaign(
                slug=slug, app_slug=app_slug, fields=fields
            )
        except programs.ProgramError as exc:
            field = CAMPAIGN_FIELD_NAMES.get(exc.field or "", exc.field)
            raise EntryError(field, exc.message)
        output["campaigns"][slug] = {"id": str(campaign.id), "created": created}

    def _affiliates(self, entry: dict[str, Any], output: dict[str, Any]) -> None:
        _unknown(entry, {"email", "password", "verified", "approved", "paypal_email"})
        email = _text(entry, "email", required=True, limit=160)
        password = _text(entry, "password", limit=200)
        paypal_email = _text(entry, "paypal_email", limit=254)
        try:
            user, created = accounts.upsert_affiliate(
                email=email,
                password=password,
                verified=bool(_bool(entry, "verified")),
                approved=bool(_bool(entry, "approved")),
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                field, messages = next(iter(exc.message_dict.items()))
                raise EntryError(field, " ".join(messages))
            raise EntryError("email", " ".join(exc.messages))
        if paypal_email is not None:
            try:
                payouts.set_confirmed_paypal_email(user_id=user.id, email=paypal_email)
            except ValidationError as exc:
                raise EntryError("paypal_email", " ".join(exc.messages))
        output["affiliates"][user.email] = {"id": str(user.id), "created": created}

    def _enrollments(self, entry: dict[str, Any], output: dict[str, Any]) -> None:
        _unknown(entry, {"affiliate", "campaign", "commission_percent"})
        email = _text(entry, "affiliate", required=True, limit=160)
        slug = _text(entry, "campaign", required=True, limit=60)
        rate = _bps(entry, "commission_percent")
        user = accounts.get_user_by_email(email=email)
        if user is None:
            raise EntryError("affiliate", f"no affiliate with email {email!r}")
        try:
            ref = programs.join_campaign(affiliate_id=user.id, campaign_slug=slug)
            if ref.status == "pending":
                ref = programs.approve_enrollment(enrollment_id=ref.id)
            if "commission_percent" in entry and ref.terms.commission_bps != rate:
                ref = programs.set_enrollment_rate(enrollment_id=ref.id, commission_bps=rate)
        except programs.ProgramError as exc:
            field = {"commission_bps": "commission_percent"}.get(exc.field or "", exc.field)
            if exc.field == "affiliate":
                field = "affiliate"
            raise EntryError(field, exc.message)
        output["enrollments"].append(
            {
                "affiliate": user.email,
                "campaign": slug,
                "coupon_code": ref.coupon_code,
                "token": ref.token,
                "link": settings.KANGROW_BASE_URL.rstrip("/") + f"/r/{ref.token}",
            }
        )
