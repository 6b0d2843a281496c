"""manage.py demo: idempotent demo data on whatever database is configured.

Creates (or repairs) the staff superuser `admin@kangrow.local`, then calls `load(stdout)` of each
context's demo module that exists, in dependency order, and prints the logins and how the staff
user sets up the second factor /admin requires. Running it again changes nothing new.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from kangrow.accounts import demo as accounts_demo

STAFF_EMAIL = "admin@kangrow.local"
STAFF_PASSWORD = "kangrow-admin-demo"  # demo data only: printed below, documented in the README
DEMO_MODULES = [
    "kangrow.accounts.demo",
    "kangrow.programs.demo",
    "kangrow.tracking.demo",
    "kangrow.ledger.demo",
    "kangrow.payouts.demo",
]


def upsert_demo_staff() -> tuple[object, bool]:
    """The demo staff superuser, created or put back into a usable state (idempotent)."""
    user_model = get_user_model()
    with transaction.atomic():
        user, created = user_model.objects.get_or_create(email=STAFF_EMAIL)
        if created or not user.check_password(STAFF_PASSWORD):
            user.set_password(STAFF_PASSWORD)
        user.is_staff = user.is_superuser = True
        user.email_verified = user.verified = True
        user.confirmed_at = user.confirmed_at or timezone.now()
        user.banned = user.blocked = False
        user.deleted_at = None
        user.first_name = user.first_name or "Demo"
        user.last_name = user.last_name or "Admin"
        user.save()
    return user, created


def demo_modules() -> list[ModuleType]:
    found = []
    for name in DEMO_MODULES:
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as error:
            missing = error.name or ""
            if not (name == missing or name.startswith(missing + ".")):
                raise  # the module exists but something it imports is missing
    return found


class Command(BaseCommand):
    help = "Load idempotent demo data (staff user, affiliates, apps, campaigns, money)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument(
            "--reset-second-factor",
            action="store_true",
            help=f"Delete {STAFF_EMAIL}'s TOTP devices, so /admin shows the QR code again.",
        )

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        staff, created = upsert_demo_staff()
        self.stdout.write(f"{'Created' if created else 'Updated'} staff user {STAFF_EMAIL}.")
        if options["reset_second_factor"]:
            deleted, _ = TOTPDevice.objects.filter(user=staff).delete()
            self.stdout.write(f"Removed {deleted} second-factor device(s) of {STAFF_EMAIL}.")
        for module in demo_modules():
            self.stdout.write(f"Loading {module.__name__}…")
            module.load(self.stdout)
        base = settings.KANGROW_BASE_URL.rstrip("/")
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "Demo logins:",
                    f"  Approved affiliate: {accounts_demo.APPROVED_EMAIL} / "
                    f"{accounts_demo.DEMO_PASSWORD}",
                    f"  Affiliate waiting for approval: {accounts_demo.PENDING_EMAIL} / "
                    f"{accounts_demo.DEMO_PASSWORD}",
                    f"  Staff (admin): {STAFF_EMAIL} / {STAFF_PASSWORD}",
                    "",
                    "The staff user needs a second factor (TOTP) for /admin:",
                    f"  1. Log in at {base}/accounts/log-in with the staff login above.",
                    f"  2. Open {base}/admin/ .",
                    "  3. Scan the QR code with an authenticator app (or type the secret shown),",
                    "     then enter the 6-digit code it displays. Later visits ask for a code.",
                    "  Lost the device? Another staff member deletes it under TOTP devices in",
                    "  /admin (or run `manage.py demo --reset-second-factor`), and the next",
                    "  visit shows the QR code again.",
                    "",
                ]
            )
        )
