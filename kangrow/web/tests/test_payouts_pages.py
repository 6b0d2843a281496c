"""Payout pages: permission matrix, balance and reasons, withdrawal request, PayPal email in
sudo mode with a confirmation link."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from kangrow.accounts.models import UserToken
from kangrow.integrations.paypal.fake import FakePayPal
from kangrow.notifications.models import Notification
from kangrow.payouts import api
from kangrow.payouts.models import PayPalAccount
from kangrow.payouts.tests.helpers import affiliate, earn, world
from kangrow.programs.tests.factories import make_affiliate
from kangrow.web.admin.testing import log_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake():
    with FakePayPal(hang_seconds=1.0, deliver_webhooks=False) as server:
        yield server


PAGES = ["/payouts/", "/payouts/settings"]


def person(kind: str):
    if kind == "unverified":
        return make_affiliate("u@example.com", verified=False, approved=False)
    if kind == "unapproved":
        return make_affiliate("w@example.com", approved=False)
    if kind == "staff":
        return make_affiliate("staff@example.com", approved=False, is_staff=True)
    return make_affiliate("ok@example.com")


@pytest.mark.parametrize("page", PAGES)
def test_anonymous_is_sent_to_log_in(client, page):
    response = client.get(page)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/log-in?next=")


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("kind", ["unverified", "unapproved", "staff"])
def test_not_approved_affiliates_wait(client, page, kind):
    log_in(client, person(kind))
    response = client.get(page)
    assert (response.status_code, response["Location"]) == (302, "/onboarding/waiting")


@pytest.mark.parametrize("page", PAGES)
def test_approved_affiliate_gets_the_page(client, page):
    log_in(client, person("approved"))
    assert client.get(page).status_code == 200


def test_anonymous_post_writes_nothing(client):
    response = client.post("/payouts/settings", {"email": "x@example.com"})
    assert response.status_code == 302
    response = client.post("/payouts/withdraw")
    assert response.status_code == 302
    assert PayPalAccount.objects.count() == 0


def test_page_shows_balance_threshold_progress_reasons_and_only_own_history(client, fake, settings):
    w = world()
    jane = affiliate(w, "jane@example.com")
    bob = affiliate(w, "bob@example.com")
    earn(w, bob, 20000)
    settings.PAYPAL_API_BASE = fake.base_url
    settings.PAYPAL_CLIENT_ID, settings.PAYPAL_CLIENT_SECRET = fake.client_id, fake.client_secret
    api.run_payouts(source="command")
    earn(w, jane, 4321)
    log_in(client, jane)
    body = client.get("/payouts/").content.decode()
    assert "Available: <strong>43.21 USD</strong> of the 100.00 USD minimum" in body
    assert 'max="100" value="43"' in body
    assert "Below the minimum of 100.00 USD: 56.79 USD to go." in body
    assert "Request withdrawal" not in body
    assert "No payouts yet." in body
    assert "bob-pp@example.com" not in body  # another affiliate's payout is not shown
    client2 = Client()
    log_in(client2, bob)
    body = client2.get("/payouts/").content.decode()
    assert "bob-pp@example.com" in body and "200.00 USD" in body and "Sending to PayPal" in body


def test_withdrawal_request(client):
    w = world()
    jane = affiliate(w, "jane@example.com")
    earn(w, jane, 10000)
    log_in(client, jane)
    assert "Request withdrawal" in client.get("/payouts/").content.decode()
    response = client.post("/payouts/withdraw", follow=True)
    assert "Withdrawal requested: the next payout run pays you." in response.content.decode()
    assert api.get_paypal_email(user_id=jane.id).withdrawal_requested_at is not None


def test_withdrawal_refused_below_minimum_writes_nothing(client):
    w = world()
    jane = affiliate(w, "jane@example.com")
    earn(w, jane, 9999)
    log_in(client, jane)
    response = client.post("/payouts/withdraw", follow=True)
    assert "You cannot withdraw yet: Below the minimum" in response.content.decode()
    assert api.get_paypal_email(user_id=jane.id).withdrawal_requested_at is None


def test_set_paypal_email_in_sudo_mode_and_confirm_by_link(
    client, django_capture_on_commit_callbacks
):
    jane = make_affiliate("jane@example.com")
    log_in(client, jane)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/payouts/settings", {"email": "jane-pp@example.com"})
    assert (response.status_code, response["Location"]) == (302, "/payouts/settings")
    sent = [m for m in mail.outbox if m.to == ["jane-pp@example.com"]]
    assert len(sent) == 1
    assert Notification.objects.filter(user=jane, kind="paypal_email.changed").count() == 1
    token = re.search(r"/payouts/settings/confirm/([\w-]+)", sent[0].body).group(1)
    response = client.get(f"/payouts/settings/confirm/{token}", follow=True)
    assert "PayPal email confirmed" in response.content.decode()
    assert api.get_paypal_email(user_id=jane.id).confirmed is True
    # the link works once
    response = client.get(f"/payouts/settings/confirm/{token}", follow=True)
    assert "The confirmation link is invalid, used or expired." in response.content.decode()


def test_another_affiliate_cannot_use_the_link(client, django_capture_on_commit_callbacks):
    jane = make_affiliate("jane@example.com")
    mallory = make_affiliate("mallory@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        api.request_paypal_email_change(user_id=jane.id, email="jane-pp@example.com")
    token = re.search(r"/confirm/([\w-]+)", mail.outbox[0].body).group(1)
    log_in(client, mallory)
    client.get(f"/payouts/settings/confirm/{token}")
    assert api.get_paypal_email(user_id=jane.id).confirmed is False
    assert api.get_paypal_email(user_id=mallory.id) is None


def test_without_sudo_mode_the_email_cannot_be_set(client):
    jane = make_affiliate("jane@example.com")
    log_in(client, jane)
    UserToken.objects.filter(user=jane).update(
        authenticated_at=timezone.now() - timedelta(minutes=16)
    )
    assert "re-authenticate" in client.get("/payouts/settings").content.decode()
    response = client.post("/payouts/settings", {"email": "jane-pp@example.com"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/log-in?next=/payouts/settings&reauth=1"
    assert PayPalAccount.objects.count() == 0
    assert mail.outbox == []


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("not-an-email", "Enter a valid email address."),
        ("a\x00b@example.com", "Null characters are not allowed."),
    ],
)
def test_bad_paypal_email_is_a_form_error(client, value, error):
    jane = make_affiliate("jane@example.com")
    log_in(client, jane)
    response = client.post("/payouts/settings", {"email": value})
    assert response.status_code == 422
    assert error in response.content.decode()
    assert PayPalAccount.objects.count() == 0
    assert mail.outbox == []
