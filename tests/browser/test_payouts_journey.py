"""Payouts in a real browser: set the PayPal email (sudo mode), confirm it from the email, watch
the balance grow towards the minimum, request a withdrawal, and see the payout in the history
once the (fake) PayPal paid it. No Content Security Policy errors on the way."""

import pytest
from django.core import mail
from playwright.sync_api import expect

from kangrow.accounts.tests.helpers import PASSWORD, link_path
from kangrow.integrations.paypal.fake import FakePayPal
from kangrow.payouts import api as payouts
from kangrow.payouts.models import PayoutBatch
from kangrow.payouts.tests.helpers import affiliate, earn, fake_client, world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, email: str) -> None:
    page.goto("/accounts/log-in")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()


def test_paypal_email_balance_withdrawal_and_history(page, artifacts_dir):
    w = world()
    jane = affiliate(w, "jane@example.com", paypal=None)
    jane.set_password(PASSWORD)
    jane.save()
    earn(w, jane, 6000)
    csp_errors: list[str] = []
    page.on(
        "console",
        lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None,
    )

    # Given Jane just logged in (sudo mode), when she opens Payouts
    log_in(page, "jane@example.com")
    page.goto("/payouts/")
    # Then she sees 60 % of the way and why she is not paid yet
    expect(page.get_by_text("Progress towards the minimum: 60%")).to_be_visible()
    expect(page.get_by_text("Add a PayPal email to be paid.")).to_be_visible()
    expect(page.get_by_text("Below the minimum of 100.00 USD: 40.00 USD to go.")).to_be_visible()

    # When she sets her PayPal email
    page.get_by_role("link", name="PayPal email settings").click()
    page.get_by_label("PayPal email").fill("jane-pp@example.com")
    page.get_by_role("button", name="Save PayPal email").click()
    expect(page.get_by_text("We sent a confirmation link to jane-pp@example.com.")).to_be_visible()
    # and opens the link sent to that address
    (message,) = [m for m in mail.outbox if m.to == ["jane-pp@example.com"]]
    page.goto(link_path(message))
    expect(page.get_by_text("PayPal email confirmed: your payouts go there.")).to_be_visible()

    # When she earns enough, she can ask to be paid
    earn(w, jane, 4000)
    page.goto("/payouts/")
    expect(page.get_by_text("Ready to be paid in the next payout run.")).to_be_visible()
    page.get_by_role("button", name="Request withdrawal").click()
    expect(page.get_by_text("Withdrawal requested: the next payout run pays you.")).to_be_visible()

    # When the payout run goes through PayPal and settles
    with FakePayPal(deliver_webhooks=False) as fake, fake_client(fake) as client:
        payouts.run_payouts(source="command", client=client)
        fake.settle(PayoutBatch.objects.get().payout_batch_id)
        payouts.sync_open_batches(client=client)
    # Then the history shows it paid, and nothing is left to pay
    page.goto("/payouts/")
    history = page.locator("table.payout-history")
    expect(history).to_contain_text("100.00 USD")
    expect(history).to_contain_text("jane-pp@example.com")
    expect(history).to_contain_text("Paid")
    expect(page.get_by_text("Progress towards the minimum: 0%")).to_be_visible()
    page.screenshot(path=artifacts_dir / "payouts.png", full_page=True)
    assert csp_errors == []
