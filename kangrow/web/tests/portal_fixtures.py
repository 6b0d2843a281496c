"""Builders for the portal tests: people (through the accounts api), apps and campaigns (through
the programs api), logged-in clients."""

from __future__ import annotations

from django.test import Client

from kangrow.accounts.models import User
from kangrow.accounts.tests.helpers import make_user
from kangrow.programs import api as programs
from kangrow.programs.tests.factories import make_app, make_campaign
from kangrow.web.admin.testing import log_in

PEOPLE = ("anonymous", "unverified", "unapproved", "approved", "another", "staff")


def make_person(kind: str, email: str | None = None) -> User | None:
    email = email or f"{kind}@example.com"
    if kind == "anonymous":
        return None
    if kind == "unverified":
        return make_user(email, verified=False, approved=False, first_name="Una")
    if kind == "unapproved":
        return make_user(email, approved=False, first_name="Ulla")
    if kind in ("approved", "another"):
        return make_user(email, first_name="Jane" if kind == "approved" else "Otto")
    if kind == "staff":
        return make_user(email, approved=False, is_staff=True, is_superuser=True)
    raise ValueError(kind)


def client_for(user: User | None) -> Client:
    client = Client()
    if user is not None:
        log_in(client, user)
    return client


def make_programs(*, discount_bps: int | None = 2000) -> dict[str, object]:
    """Two apps: invoicepro (an open campaign `launch` with a discount, an approval campaign
    `vip`), and taskflow (an open lifetime campaign `flow`)."""
    programs.update_company_profile(
        name="Acme Software", mission="Make small businesses calm.", goals="Grow to 10k customers."
    )
    invoicepro = make_app(
        "invoicepro",
        name="InvoicePro",
        goals="Invoices in one minute.",
        ideal_customer="Freelancers.",
        value_proposition="Send invoices that get paid twice as fast.",
        pricing="$19/month.",
        talking_points="Automatic reminders.",
        dos_and_donts="Do not promise tax advice.",
        brand_color="#1E40AF",
    )
    taskflow = make_app(
        "taskflow",
        name="TaskFlow",
        value_proposition="Projects without the chaos.",
        brand_color="#F59E0B",
    )
    launch = make_campaign(
        "launch",
        app_slug="invoicepro",
        name="Launch",
        commission_bps=3000,
        recurring_months=12,
        customer_discount_bps=discount_bps,
        cookie_days=60,
        hold_days=30,
    )
    vip = make_campaign(
        "vip", app_slug="invoicepro", name="VIP", commission_bps=4000, visibility="approval"
    )
    flow = make_campaign("flow", app_slug="taskflow", name="Flow", commission_bps=3500)
    return {
        "invoicepro": invoicepro,
        "taskflow": taskflow,
        "launch": launch,
        "vip": vip,
        "flow": flow,
    }
