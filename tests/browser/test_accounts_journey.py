"""The account journey in a real browser (Debian's chromium through Playwright, headless):
sign up, confirm from the email, wait for approval, get approved, log in with a magic link,
reach the dashboard, log out. Fields are found by their visible labels; the page must run
without CSP violations (htmx loads with the request's nonce)."""

import re

import pytest
from django.core import mail
from django.core.cache import cache

from kangrow.accounts import api
from kangrow.accounts.models import User
from kangrow.accounts.tests.helpers import PASSWORD, link_path

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(browser, live_server, settings):
    cache.clear()
    settings.KANGROW_BASE_URL = live_server.url
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.console_errors = []
    page.on(
        "console",
        lambda msg: page.console_errors.append(msg.text) if msg.type == "error" else None,
    )
    page.not_found = []
    page.on("response", lambda r: page.not_found.append(r.url) if r.status == 404 else None)
    yield page
    context.close()


def test_a_new_affiliate_signs_up_confirms_waits_and_reaches_the_dashboard(page):
    # sign up
    page.goto("/")
    page.get_by_role("link", name="Sign up").first.click()
    page.get_by_label("Email").fill("walker@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create an account").click()
    page.wait_for_url("**/onboarding/waiting")
    assert page.get_by_text("email not confirmed yet").is_visible()

    # confirm from the email
    confirm_path = link_path(mail.outbox[-1])
    page.goto(confirm_path)
    page.get_by_role("button", name="Confirm my account").click()
    page.wait_for_url("**/onboarding/waiting")
    assert page.get_by_text("email confirmed, approval pending").is_visible()
    assert page.get_by_text("Your email is confirmed.").is_visible()

    # an admin approves; the affiliate gets an email
    user = User.objects.get(email="walker@example.com")
    assert api.approve_affiliates(user_ids=[user.pk]) == 1
    assert mail.outbox[-1].subject == "You are approved as a KanGrow affiliate"

    # log out, then log in with a magic link
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r".*/$"))
    page.goto("/accounts/log-in")
    page.get_by_label("Email for a log-in link").fill("walker@example.com")
    page.get_by_role("button", name="Log in with email").click()
    assert page.get_by_text("If your email is in our system").is_visible()
    page.goto(link_path(mail.outbox[-1]))
    page.get_by_role("button", name="Keep me logged in on this device").click()
    page.wait_for_url("**/dashboard/")
    assert page.get_by_role("heading", name="Dashboard").is_visible()
    assert page.get_by_text("walker@example.com").is_visible()

    # htmx loaded with the nonce: no CSP violation anywhere on the way
    assert page.evaluate("typeof window.htmx") == "object"
    assert page.not_found == []
    assert page.console_errors == []
    user.refresh_from_db()
    assert user.logins_count == 2  # registration, then the magic link
