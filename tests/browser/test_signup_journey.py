"""Issue 2's journey, as a new affiliate and a staff member take it in a real browser."""

import re

import pytest
from django.core import mail
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from kangrow.accounts.models import User
from kangrow.web.admin.testing import current_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"


def link_in_last_email(to: str, pattern: str) -> str:
    message = next(m for m in reversed(mail.outbox) if to in m.to)
    match = re.search(rf"https?://\S+{pattern}\S*", message.body)
    assert match, message.body
    return match.group(0)


def log_in(page, email: str, password: str) -> None:
    page.goto("/accounts/log-in")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in", exact=True).click()


def test_sign_up_confirm_wait_get_approved_log_in_reach_the_dashboard(page, browser, live_server):
    # Given a staff member with an authenticator app enrolled
    staff = User.objects.create_superuser("staff@kangrow.test", "staff password 123!")
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)

    # When a new affiliate signs up
    page.goto("/")
    page.get_by_role("link", name=re.compile("sign up", re.I)).first.click()
    page.get_by_label("Email").fill("new.affiliate@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create an account").click()

    # Then the waiting page says the email is not confirmed yet
    expect(page.get_by_text("email not confirmed yet")).to_be_visible()

    # When they open the confirmation link from their inbox and confirm
    page.goto(link_in_last_email("new.affiliate@example.com", "/accounts/confirm/"))
    page.get_by_role("button", name="Confirm my account").click()

    # Then they wait for approval and cannot reach the dashboard
    expect(page.get_by_text("email confirmed, approval pending")).to_be_visible()
    page.goto("/dashboard/")
    expect(page).to_have_url(re.compile(r"/onboarding/waiting"))

    # When staff log in, pass the second factor and approve the affiliate in /admin
    staff_page = browser.new_context(base_url=live_server.url).new_page()
    log_in(staff_page, "staff@kangrow.test", "staff password 123!")
    staff_page.goto("/admin/")
    staff_page.get_by_label("Code from your authenticator app").fill(current_code(device))
    staff_page.get_by_role("button", name=re.compile("verify|continue|log in", re.I)).click()
    staff_page.goto("/admin/accounts/user/?approved_affiliate__exact=0")
    staff_page.get_by_role(
        "checkbox", name="Select this object for an action - new.affiliate@example.com"
    ).check()
    staff_page.get_by_role("combobox", name=re.compile("^Action")).select_option(
        label="Approve selected affiliates"
    )
    staff_page.get_by_role("button", name="Go").click()
    expect(staff_page.locator(".messagelist")).to_contain_text("1")
    staff_page.context.close()

    # Then the affiliate is told by email, logs in again and reaches the dashboard
    user = User.objects.get(email="new.affiliate@example.com")
    assert user.approved_affiliate and user.email_verified and user.confirmed_at is not None
    assert any("approved" in m.subject.lower() for m in mail.outbox if user.email in m.to)
    page.get_by_role("button", name=re.compile("log out", re.I)).first.click()
    log_in(page, "new.affiliate@example.com", PASSWORD)
    expect(page).to_have_url(re.compile(r"/dashboard/"))
    assert User.objects.get(pk=user.pk).logins_count >= 1
