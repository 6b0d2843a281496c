"""notify(): in-app row + outbox email in the caller's transaction, exactly-once by dedupe key,
delivery after commit with retries, and a failing email never loses the notification."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from kangrow.notifications import api
from kangrow.notifications.models import Notification, OutboxEmail
from kangrow.programs.tests.factories import make_affiliate

pytestmark = pytest.mark.django_db


class BrokenBackend:
    """An email backend whose server is down."""

    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("smtp server down")


def send(user, **kw):
    api.notify(
        user_id=user.id,
        kind=kw.pop("kind", "payout.sent"),
        title=kw.pop("title", "Your payout was sent"),
        body=kw.pop("body", "100.00 USD is on its way to jane-pp@example.com."),
        **kw,
    )


def test_notify_writes_notification_and_sends_email_after_commit(
    django_capture_on_commit_callbacks,
):
    user = make_affiliate()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        send(user, data={"amount": 10000})
        # nothing is sent before the commit
        assert len(mail.outbox) == 0
    assert len(callbacks) == 1
    note = Notification.objects.get()
    assert (note.user_id, note.kind, note.title, note.data) == (
        user.id,
        "payout.sent",
        "Your payout was sent",
        {"amount": 10000},
    )
    assert note.read_at is None
    email = OutboxEmail.objects.get()
    assert (email.notification_id, email.to, email.status, email.attempts) == (
        note.id,
        "jane@example.com",
        "sent",
        1,
    )
    assert mail.outbox[0].subject == "Your payout was sent"
    assert "100.00 USD is on its way" in mail.outbox[0].body
    assert mail.outbox[0].alternatives[0][1] == "text/html"


def test_dedupe_key_makes_notify_exactly_once(django_capture_on_commit_callbacks):
    user = make_affiliate()
    with django_capture_on_commit_callbacks(execute=True):
        send(user, dedupe_key="payout.sent:1")
        send(user, dedupe_key="payout.sent:1")
    assert Notification.objects.count() == 1
    assert OutboxEmail.objects.count() == 1
    assert len(mail.outbox) == 1


def test_rolled_back_caller_notifies_nobody(django_capture_on_commit_callbacks):
    user = make_affiliate()
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        send(user)
        raise RuntimeError("the caller failed")
    assert Notification.objects.count() == 0
    assert OutboxEmail.objects.count() == 0
    assert len(mail.outbox) == 0


def test_email_failure_keeps_the_notification_and_retries_with_backoff(
    settings, django_capture_on_commit_callbacks
):
    user = make_affiliate()
    settings.EMAIL_BACKEND = "kangrow.notifications.tests.test_notifications_api.BrokenBackend"
    with django_capture_on_commit_callbacks(execute=True):
        send(user)
    email = OutboxEmail.objects.get()
    assert (email.status, email.attempts) == ("failed", 1)
    assert email.last_error == "ConnectionRefusedError: smtp server down"
    assert email.next_attempt_at > timezone.now()
    assert Notification.objects.count() == 1
    # when the retry task runs before the backoff is over, nothing is tried
    assert api.deliver_due_emails() == 0
    # when the server is back and the backoff is over, the retry task sends it
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    OutboxEmail.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert api.deliver_due_emails() == 1
    email.refresh_from_db()
    assert (email.status, email.attempts, email.last_error) == ("sent", 2, "")
    assert len(mail.outbox) == 1


def test_email_gives_up_after_max_attempts(settings):
    user = make_affiliate()
    settings.EMAIL_BACKEND = "kangrow.notifications.tests.test_notifications_api.BrokenBackend"
    send(user)
    outbox_id = OutboxEmail.objects.get().id
    for _ in range(api.MAX_EMAIL_ATTEMPTS):
        api.deliver_email(outbox_id=outbox_id)
    email = OutboxEmail.objects.get()
    assert (email.status, email.attempts, email.next_attempt_at) == (
        "dead",
        api.MAX_EMAIL_ATTEMPTS,
        None,
    )
    assert Notification.objects.count() == 1


def test_email_false_writes_only_the_in_app_notification():
    user = make_affiliate()
    send(user, email=False)
    assert Notification.objects.count() == 1
    assert OutboxEmail.objects.count() == 0


def test_list_and_mark_read_are_scoped_to_the_user():
    jane = make_affiliate()
    max_ = make_affiliate("max@example.com", first_name="Max")
    send(jane, email=False, title="one")
    send(max_, email=False, title="theirs")
    assert [n.title for n in api.list_notifications(user_id=jane.id)] == ["one"]
    assert api.count_unread(user_id=jane.id) == 1
    theirs = Notification.objects.get(user=max_)
    assert api.mark_read(user_id=jane.id, notification_id=theirs.id) == 0
    assert api.mark_read(user_id=jane.id) == 1
    assert api.count_unread(user_id=jane.id) == 0
    assert api.count_unread(user_id=max_.id) == 1


def test_backoff_doubles_and_is_capped():
    assert [api.email_backoff(n) for n in (1, 2, 3)] == [
        timedelta(minutes=1),
        timedelta(minutes=2),
        timedelta(minutes=4),
    ]
    assert api.email_backoff(30) == timedelta(hours=6)
