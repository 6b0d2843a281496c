"""Onboarding to completion in a real browser: profile, PayPal email, first campaign, first link
shared and the app's brief, with the progress bar following along and then disappearing."""

import re

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from kangrow.accounts.tests.helpers import PASSWORD, make_user
from kangrow.onboarding.models import OnboardingProgress
from kangrow.payouts import api as payouts
from kangrow.web.tests.portal_fixtures import make_programs

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, email: str) -> None:
    page.goto("/accounts/log-in")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()


def progress(page):  # type: ignore[no-untyped-def]
    return page.get_by_test_id("onboarding-count")


def test_onboarding_to_completion(page):
    # Given the programs, and Jane: approved, first name only, PayPal email confirmed
    cache.clear()
    make_programs()
    jane = make_user("jane@example.com", first_name="Jane")
    payouts.set_confirmed_paypal_email(user_id=jane.pk, email="jane-pp@example.com")
    csp_errors: list[str] = []
    page.on(
        "console",
        lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None,
    )

    # When she logs in and opens "Getting started"
    log_in(page, "jane@example.com")
    page.get_by_role("link", name="Getting started", exact=True).first.click()
    # Then she reads the company's mission and sees 1 of 5 done (the PayPal email)
    expect(page.get_by_text("Make small businesses calm.")).to_be_visible()
    expect(progress(page)).to_have_text("1 of 5")

    # When she completes her profile
    page.get_by_role("link", name="Complete your profile (first and last name)").click()
    page.get_by_label("Last name").fill("Doe")
    page.get_by_role("button", name="Save profile").click()
    # Then 2 of 5, on the settings page too
    expect(progress(page)).to_have_text("2 of 5")

    # When she joins InvoicePro's launch campaign in one click from the catalog
    page.get_by_role("link", name="Campaigns", exact=True).click()
    page.get_by_role("button", name="Join InvoicePro Launch").click()
    # Then the card shows her code and the bar (swapped by HTMX) says 3 of 5
    expect(page.locator("#card-launch")).to_contain_text("JANE30-INVOICEPRO")
    expect(progress(page)).to_have_text("3 of 5")

    # When she opens her link page and copies the link
    page.locator("#card-launch").get_by_role("link", name="Your link, code and banners").click()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy link").click()
    # Then it says so, and the first share is recorded: 4 of 5
    expect(page.get_by_text("Copied!")).to_be_visible()
    expect(progress(page)).to_have_text("4 of 5")

    # When she reads the InvoicePro brief and marks it read
    page.get_by_role("link", name="Read the InvoicePro brief").click()
    expect(page.get_by_text("Send invoices that get paid twice as fast.")).to_be_visible()
    page.get_by_role("button", name="I've read this").click()
    # Then the checklist is complete: the progress bar disappears everywhere
    expect(page.get_by_text("Read.", exact=False)).to_be_visible()
    expect(page.get_by_label("Onboarding progress")).to_have_count(0)
    page.get_by_role("link", name="Getting started", exact=True).first.click()
    expect(page.get_by_text("All done.")).to_be_visible()
    expect(page.get_by_label("Onboarding progress")).to_have_count(0)
    assert OnboardingProgress.objects.get(affiliate_id=jane.pk).completed_at is not None
    assert csp_errors == []


def test_an_unapproved_affiliate_reads_the_briefs_while_waiting(page):
    # Given an affiliate waiting for approval
    cache.clear()
    make_programs()
    make_user("wait@example.com", approved=False, first_name="Walt")
    # When she logs in, she lands on the waiting page, which leads to the briefs
    log_in(page, "wait@example.com")
    expect(page).to_have_url(re.compile(r"/onboarding/waiting"))
    page.get_by_role("link", name="read about the company and its apps").click()
    page.get_by_role("link", name="TaskFlow").click()
    # Then she reads the brief and may mark it read, but the catalog still says wait
    expect(page.get_by_role("heading", name="TaskFlow: the brief")).to_be_visible()
    page.get_by_role("button", name="I've read this").click()
    expect(page.get_by_text("Read.", exact=False)).to_be_visible()
    page.goto("/campaigns/")
    expect(page).to_have_url(re.compile(r"/onboarding/waiting"))
