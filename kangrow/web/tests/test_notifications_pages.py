"""Notifications centre, read marks, header badge, and email preferences (pages and notify)."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from kangrow.notifications import api as notifications_api
from kangrow.notifications.models import EmailPreference, Notification, OutboxEmail
from kangrow.programs.tests.factories import make_affiliate
from kangrow.web.admin.testing import log_in

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    log_in(client, user)
    return client


def badge(html: str) -> str:
    match = re.search(r'<span id="unread-badge"[^>]*>(.*?)</span></a>', html, re.S)
    assert match
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


def notify(user, n: int = 1, kind: str = "referral.cancelled", **extra) -> None:
    for i in range(n):
        notifications_api.notify(
            user_id=user.id, kind=kind, title=f"Title {i}", body=f"Body {i}", **extra
        )


@pytest.fixture
def jane():
    return make_affiliate("jane@example.com")


@pytest.fixture
def bob():
    return make_affiliate("bob@example.com", first_name="Bob")


def test_anonymous_is_sent_to_log_in(db):
    for url in ("/notifications/", "/notifications/preferences"):
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/log-in?next=")
    response = Client().post("/notifications/read-all")
    assert response.status_code in (302, 403)


def test_centre_lists_own_notifications_and_the_badge_counts_unread(jane, bob):
    notify(jane, 2)
    notify(bob, 1)
    response = client_for(jane).get("/notifications/")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('class="card notification notification-unread"') == 2
    assert "Title 0" in html and "Title 1" in html
    assert badge(html) == "2 unread"
    # the badge is on every page, e.g. the settings page
    assert badge(client_for(jane).get("/accounts/settings").content.decode()) == "2 unread"


def test_no_unread_means_an_empty_hidden_badge(jane):
    html = client_for(jane).get("/accounts/settings").content.decode()
    assert badge(html) == ""
    assert 'id="unread-badge" class="badge" style="display:none"' in html


def test_mark_one_read_then_all(jane, bob):
    notify(jane, 3)
    notify(bob, 1)
    client = client_for(jane)
    first = Notification.objects.filter(user=jane).order_by("created_at").first()
    # when one is marked read with HTMX
    response = client.post(
        f"/notifications/{first.id}/read", headers={"HX-Request": "true"}, follow=True
    )
    # then the centre comes back (HTMX picks the item and the badge out of it)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="notification-{first.id}" class="card notification"' in html
    assert badge(html) == "2 unread"
    assert Notification.objects.filter(user=jane, read_at__isnull=True).count() == 2
    # when all are marked read
    response = client.post("/notifications/read-all", follow=True)
    assert badge(response.content.decode()) == ""
    assert "Marked 2 notifications read." in response.content.decode()
    assert Notification.objects.filter(user=jane, read_at__isnull=True).count() == 0
    # and Bob's stays unread
    assert Notification.objects.filter(user=bob, read_at__isnull=True).count() == 1


def test_marking_someone_elses_notification_changes_nothing(jane, bob):
    notify(bob, 1)
    theirs = Notification.objects.get(user=bob)
    response = client_for(jane).post(f"/notifications/{theirs.id}/read")
    assert response.status_code == 303
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_read_marks_need_post_and_csrf(jane):
    notify(jane, 1)
    row = Notification.objects.get(user=jane)
    client = client_for(jane)
    assert client.get(f"/notifications/{row.id}/read").status_code == 405
    strict = Client(enforce_csrf_checks=True)
    log_in(strict, jane)
    assert strict.post("/notifications/read-all").status_code == 403
    assert Notification.objects.filter(read_at__isnull=True).count() == 1


def test_preferences_page_shows_the_defaults(jane):
    response = client_for(jane).get("/notifications/preferences")
    html = response.content.decode()
    assert response.status_code == 200
    for label in (
        "Cancellation alerts",
        "Commission earned",
        "Payout sent",
        "Payout failed",
    ):
        assert label in html
    # every kind is emailed by default except commission.earned (in-app only until chosen)
    assert html.count("checked") == 3


def test_saving_preferences_stores_each_kind(jane):
    client = client_for(jane)
    response = client.post(
        "/notifications/preferences",
        {"referral.cancelled": "on", "payout.sent": "on", "payout.failed": "on"},
        follow=True,
    )
    assert response.status_code == 200
    assert "Email preferences saved." in response.content.decode()
    assert dict(EmailPreference.objects.filter(user=jane).values_list("kind", "email_enabled")) == {
        "referral.cancelled": True,
        "commission.earned": False,
        "payout.sent": True,
        "payout.failed": True,
    }
    # saving again updates the same rows (unique per user and kind)
    client.post("/notifications/preferences", {"commission.earned": "on"})
    assert EmailPreference.objects.filter(user=jane).count() == 4
    assert notifications_api.wants_email(user_id=jane.id, kind="commission.earned") is True
    assert notifications_api.wants_email(user_id=jane.id, kind="referral.cancelled") is False


def test_notify_emails_by_default(jane, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        notify(jane, 1, kind="referral.cancelled")
    assert Notification.objects.filter(user=jane).count() == 1
    assert OutboxEmail.objects.filter(to="jane@example.com").count() == 1
    assert [m.subject for m in mail.outbox] == ["Title 0"]


def test_notify_respects_an_opt_out_but_keeps_the_in_app_row(
    jane, bob, django_capture_on_commit_callbacks
):
    # given Jane turned cancellation emails off
    notifications_api.set_email_preferences(user_id=jane.id, enabled={"referral.cancelled": False})
    # when a cancellation is notified to Jane and to Bob
    with django_capture_on_commit_callbacks(execute=True):
        notify(jane, 1, kind="referral.cancelled")
        notify(bob, 1, kind="referral.cancelled")
        notify(jane, 1, kind="payout.sent")
    # then Jane has both in-app rows, but only the payout email; Bob gets his email
    assert Notification.objects.filter(user=jane).count() == 2
    assert sorted(OutboxEmail.objects.values_list("to", "notification__kind")) == [
        ("bob@example.com", "referral.cancelled"),
        ("jane@example.com", "payout.sent"),
    ]
    assert sorted(m.to[0] for m in mail.outbox) == ["bob@example.com", "jane@example.com"]


def test_unknown_kind_is_refused_and_writes_nothing(jane):
    with pytest.raises(ValueError, match="unknown notification kind"):
        notifications_api.set_email_preferences(
            user_id=jane.id, enabled={"referral.cancelled": False, "nope": True}
        )
    assert EmailPreference.objects.count() == 0


def test_nul_in_a_preferences_post_is_harmless(jane):
    response = client_for(jane).post("/notifications/preferences", {"payout.sent": "on\x00"})
    assert response.status_code == 302
    assert notifications_api.wants_email(user_id=jane.id, kind="payout.sent") is True


def test_anonymous_pages_have_no_badge_and_no_count_query(db, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = Client().get("/accounts/log-in")
    assert response.status_code == 200
    assert "unread-badge" not in response.content.decode()
