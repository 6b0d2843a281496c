"""PayPal email: set, change, confirm by a single-use link, and the public read."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from kangrow.notifications.models import Notification
from kangrow.payouts import api
from kangrow.payouts.models import PayPalAccount
from kangrow.programs.tests.factories import make_affiliate

pytestmark = pytest.mark.django_db


def _link_token(message) -> str:
    match = re.search(r"/payouts/settings/confirm/([A-Za-z0-9_-]+)", message.body)
    assert match
    return match.group(1)


def test_no_paypal_email_reads_none():
    user = make_affiliate()
    assert api.get_paypal_email(user_id=user.id) is None


def test_setting_sends_a_link_to_the_paypal_address_and_tells_the_account(
    django_capture_on_commit_callbacks,
):
    user = make_affiliate("jane@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        view = api.request_paypal_email_change(user_id=user.id, email="Jane.PP@Example.COM")
    assert (view.email, view.confirmed) == ("Jane.PP@example.com", False)
    confirm = [m for m in mail.outbox if m.to == ["Jane.PP@example.com"]]
    assert len(confirm) == 1
    assert Notification.objects.filter(user=user, kind="paypal_email.changed").count() == 1
    row = PayPalAccount.objects.get()
    token = _link_token(confirm[0])
    assert bytes(row.token_digest) != token.encode()  # only a digest is stored
    # when the link is used
    assert api.confirm_paypal_email(user_id=user.id, token=token) is True
    # then the email is confirmed, and the link does not work twice
    assert api.get_paypal_email(user_id=user.id).confirmed is True
    assert api.confirm_paypal_email(user_id=user.id, token=token) is False


def test_link_of_another_account_or_expired_does_not_confirm(django_capture_on_commit_callbacks):
    jane = make_affiliate("jane@example.com")
    mallory = make_affiliate("mallory@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        api.request_paypal_email_change(user_id=jane.id, email="jane-pp@example.com")
    token = _link_token(next(m for m in mail.outbox if m.to == ["jane-pp@example.com"]))
    assert api.confirm_paypal_email(user_id=mallory.id, token=token) is False
    with time_machine.travel(timezone.now() + timedelta(days=7, minutes=1)):
        assert api.confirm_paypal_email(user_id=jane.id, token=token) is False
    assert api.get_paypal_email(user_id=jane.id).confirmed is False


def test_changing_a_confirmed_email_makes_it_unconfirmed_until_confirmed():
    user = make_affiliate()
    api.set_confirmed_paypal_email(user_id=user.id, email="old@example.com")
    api.request_paypal_email_change(user_id=user.id, email="new@example.com")
    view = api.get_paypal_email(user_id=user.id)
    assert (view.email, view.confirmed) == ("new@example.com", False)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not-an-email", "Enter a valid email address."),
        ("a\x00b@example.com", "This value contains a NUL character, which is not allowed."),
        ("", "Enter a valid email address."),
    ],
)
def test_bad_addresses_are_refused_and_change_nothing(value, message):
    user = make_affiliate()
    with pytest.raises(ValidationError) as exc:
        api.request_paypal_email_change(user_id=user.id, email=value)
    assert exc.value.message_dict == {"email": [message]}
    assert PayPalAccount.objects.count() == 0
    assert mail.outbox == []
    assert Notification.objects.count() == 0


def test_setting_the_same_confirmed_email_again_is_refused():
    user = make_affiliate()
    api.set_confirmed_paypal_email(user_id=user.id, email="pp@example.com")
    with pytest.raises(ValidationError):
        api.request_paypal_email_change(user_id=user.id, email="pp@example.com")
    assert api.get_paypal_email(user_id=user.id).confirmed is True


def test_changes_are_limited_per_hour(django_capture_on_commit_callbacks):
    from django.core.cache import cache

    cache.clear()
    user = make_affiliate()
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(api.CHANGES_PER_HOUR):
            api.request_paypal_email_change(user_id=user.id, email=f"pp{n}@example.com")
    sent = len(mail.outbox)
    with pytest.raises(ValidationError) as exc:
        api.request_paypal_email_change(user_id=user.id, email="one-more@example.com")
    assert exc.value.message_dict == {
        "email": ["Too many PayPal email changes. Please wait an hour and try again."]
    }
    assert api.get_paypal_email(user_id=user.id).email == "pp4@example.com"
    assert len(mail.outbox) == sent
