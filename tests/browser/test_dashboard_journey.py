"""Issue 4's performance journeys in chromium: a click on the affiliate's link and a signed
paid-invoice event show on the dashboard; a cancellation event raises the header badge and
appears in the notifications centre; a screenshot of the dashboard with demo data."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from playwright.sync_api import expect
from standardwebhooks.webhooks import Webhook

from kangrow.ledger.tests.helpers import SIGNING_SECRET, build_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long enough password"  # kangrow.programs.tests.factories.make_affiliate


def log_in(page, email: str, password: str) -> None:
    page.goto("/accounts/log-in")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page).to_have_url(re.compile(r"/dashboard/|/onboarding"))


def watch_console(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def post_event(page, msg_id: str, type: str, **data) -> None:
    """POST a money event to /api/v1/events, signed like the Payments API does."""
    body = json.dumps({"type": type, "data": {"app": "invoicepro", **data}})
    now = datetime.now(tz=UTC)
    signature = Webhook(SIGNING_SECRET).sign(msg_id=msg_id, timestamp=now, data=body)
    response = page.request.post(
        "/api/v1/events",
        data=body,
        headers={
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
        },
    )
    assert response.status in (200, 202), response.text()


def click_link_and_pay(page, world) -> None:
    # a visitor clicks the affiliate's tracking link (the redirect to the app is not followed:
    # the app's site is outside the test machine)
    response = page.request.get(f"/r/{world.enrollment.token}", max_redirects=0)
    assert response.status == 302
    assert f"ref={world.enrollment.token}" in response.headers["location"]
    # and, later, the app's payment system reports the first paid invoice with that ref
    post_event(
        page,
        "msg_paid_1",
        "invoice.paid",
        customer_id="cus_1",
        customer_email="buyer@example.org",
        subscription_id="sub_1",
        invoice_id="in_1",
        amount=4900,
        currency="USD",
        ref=world.enrollment.token,
        occurred_at=datetime.now(tz=UTC).isoformat(),
    )


def metric(page, label: str):
    return page.locator("li.metric", has=page.locator(".metric-label", has_text=label)).locator(
        ".metric-value"
    )


def test_a_click_and_a_signed_paid_invoice_show_on_the_dashboard(page):
    world = build_world()
    errors = watch_console(page)
    click_link_and_pay(page, world)
    # when the affiliate logs in and opens the dashboard
    log_in(page, "jane@example.com", PASSWORD)
    page.goto("/dashboard/")
    # then the click, the signup, the paying customer and the commission are there
    expect(metric(page, "Clicks")).to_have_text("1")
    expect(metric(page, "Signups")).to_have_text("1")
    expect(metric(page, "Paying customers")).to_have_text("1")
    expect(metric(page, "Conversion rate")).to_have_text("100.00 %")
    expect(metric(page, "Revenue referred")).to_have_text("49.00 USD")
    expect(metric(page, "Commissions pending")).to_have_text("14.70 USD")
    # and the referrals table (loaded by HTMX) shows the masked customer and the commission
    table = page.get_by_role("region", name="Referrals table")
    expect(table.get_by_role("cell", name="bu***@example.org")).to_be_visible()
    expect(table.get_by_role("cell", name="14.70 USD")).to_be_visible()
    expect(page.get_by_text("buyer@example.org")).to_have_count(0)
    # and both charts were drawn by Chart.js
    expect(page.locator(".chart canvas")).to_have_count(2)
    # when the period is changed with the keyboard-reachable filter, the stats refresh in place
    page.get_by_label("Period", exact=True).select_option(label="Last 7 days")
    expect(page).to_have_url(re.compile(r"period=7"))
    expect(metric(page, "Clicks")).to_have_text("1")
    expect(page.locator(".chart canvas")).to_have_count(2)
    # and typing a first day makes the period custom: a day before today has no activity yet
    yesterday = (datetime.now(tz=UTC).date() - timedelta(days=1)).isoformat()
    page.get_by_label("To", exact=True).fill(yesterday)
    expect(page.get_by_label("Period", exact=True)).to_have_value("custom")
    page.get_by_label("From", exact=True).fill(yesterday)
    expect(metric(page, "Clicks")).to_have_text("0")
    expect(page).to_have_url(re.compile(rf"period=custom&start={yesterday}&end={yesterday}"))
    assert errors == []


def test_a_cancellation_event_raises_the_badge_and_appears_in_the_centre(page):
    world = build_world()
    errors = watch_console(page)
    click_link_and_pay(page, world)
    log_in(page, "jane@example.com", PASSWORD)
    badge = page.get_by_role("link", name=re.compile(r"^Notifications"))
    expect(badge).to_have_text("Notifications1 unread")  # the commission the invoice earned
    # when the payment system reports the subscription cancelled
    post_event(
        page,
        "msg_cancel_1",
        "subscription.cancelled",
        customer_id="cus_1",
        subscription_id="sub_1",
        occurred_at=datetime.now(tz=UTC).isoformat(),
    )
    # then the header shows one unread notification on the next page
    page.goto("/dashboard/")
    expect(badge).to_have_text("Notifications2 unread")
    expect(metric(page, "Cancellations")).to_have_text("1")
    # and the centre tells what was lost
    badge.click()
    expect(page).to_have_url(re.compile(r"/notifications/$"))
    item = page.locator("li.notification").first
    expect(item).to_contain_text("bu***@example.org cancelled InvoicePro")
    expect(item).to_contain_text("Monthly commission lost: 14.70 USD")
    earned = page.locator("li.notification").nth(1)
    expect(earned).to_contain_text("You earned 14.70 USD from InvoicePro")
    # when it is marked read (HTMX), the badge counts down without a reload
    item.get_by_role("button", name=re.compile("Mark as read")).click()
    expect(item.get_by_text("Read", exact=True)).to_be_visible()
    expect(badge).to_have_text("Notifications1 unread")
    assert errors == []


def test_dashboard_screenshot_with_demo_data(page, artifacts_dir):
    # given the demo data (every context's demo loader)
    call_command("demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    errors = watch_console(page)
    log_in(page, "affiliate@kangrow.local", "kangrow-demo-pass")
    page.goto("/dashboard/?period=90")
    expect(page.locator(".chart canvas").first).to_be_visible()
    assert int(metric(page, "Clicks").inner_text()) > 0
    page.get_by_role("region", name="Referrals table").wait_for()
    # then a full-page screenshot is saved as an artifact of the suite
    target = artifacts_dir / "dashboard.png"
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 10_000
    assert errors == []
