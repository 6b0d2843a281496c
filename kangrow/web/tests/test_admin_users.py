"""The users admin: columns and filters, approve / reject (with a reason) / ban / block actions."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core import mail
from django.utils import timezone

from kangrow.accounts.models import User, UserToken

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/accounts/user/"


def _pending(email, **extra):
    """An affiliate who confirmed the email and waits for approval."""
    return User.objects.create_user(
        email,
        "correct horse battery staple",
        email_verified=True,
        verified=True,
        confirmed_at=timezone.now(),
        **extra,
    )


def _ids(*users):
    return [str(u.pk) for u in users]


def test_changelist_shows_the_seed_columns_and_filters(staff_client):
    # given
    _pending("jane@example.com", first_name="Jane", last_name="Doe", logins_count=7)
    # when
    response = staff_client.get(CHANGELIST)
    # then
    html = response.content.decode()
    assert response.status_code == 200
    for header in [
        "column-email",
        "column-name",
        "column-email_verified",
        "column-verified",
        "column-approved_affiliate",
        "column-banned",
        "column-blocked",
        "column-logins_count",
        "column-last_login",
        "column-created_at",
    ]:
        assert header in html
    assert "Jane Doe" in html
    for filter_title in [
        "By verified",
        "By email verified",
        "By approved affiliate",
        "By banned",
        "By blocked",
        f"By {User._meta.get_field('is_staff').verbose_name}",
        "By deleted",
    ]:
        assert filter_title in html


def test_filters_and_search_narrow_the_list(staff_client):
    # given
    _pending("waiting@example.com")
    _pending("approved@example.com", approved_affiliate=True)
    _pending("gone@example.com", deleted_at=timezone.now())
    # when
    waiting = staff_client.get(CHANGELIST, {"approved_affiliate__exact": "0", "deleted": "no"})
    deleted = staff_client.get(CHANGELIST, {"deleted": "yes"})
    search = staff_client.get(CHANGELIST, {"q": "approved@"})
    # then
    assert "waiting@example.com" in waiting.content.decode()
    assert "approved@example.com" not in waiting.content.decode()
    assert "gone@example.com" not in waiting.content.decode()
    assert "gone@example.com" in deleted.content.decode()
    assert "waiting@example.com" not in deleted.content.decode()
    assert "approved@example.com" in search.content.decode()
    assert "waiting@example.com" not in search.content.decode()


def test_approve_action_approves_and_emails_each_affiliate(
    staff_client, django_capture_on_commit_callbacks
):
    # given
    jane, john = _pending("jane@example.com"), _pending("john@example.com")
    other = _pending("other@example.com")
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            CHANGELIST,
            {"action": "approve_affiliates", ACTION_CHECKBOX_NAME: _ids(jane, john), "index": 0},
        )
    # then
    assert response.status_code == 302
    assert list(
        User.objects.filter(approved_affiliate=True)
        .order_by("email")
        .values_list("email", flat=True)
    ) == ["jane@example.com", "john@example.com"]
    other.refresh_from_db()
    assert other.approved_affiliate is False
    assert sorted(m.to[0] for m in mail.outbox) == ["jane@example.com", "john@example.com"]
    assert len(mail.outbox) == 2
    messages = [m.message for m in response.wsgi_request._messages]
    assert messages == ["Approved 2 affiliate(s); each was emailed."]


def test_approve_action_skips_unverified_users_and_says_so(
    staff_client, django_capture_on_commit_callbacks
):
    # given
    unverified = User.objects.create_user("new@example.com", "correct horse battery staple")
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            CHANGELIST,
            {"action": "approve_affiliates", ACTION_CHECKBOX_NAME: _ids(unverified), "index": 0},
            follow=True,
        )
    # then
    unverified.refresh_from_db()
    assert unverified.approved_affiliate is False
    assert mail.outbox == []
    assert (
        "Approved 0 affiliate(s); each was emailed. 1 skipped: only verified, active, not yet "
        "approved affiliates qualify." in response.content.decode()
    )


def test_reject_action_first_asks_for_the_reason(staff_client, django_capture_on_commit_callbacks):
    # given
    jane = _pending("jane@example.com")
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            CHANGELIST,
            {"action": "reject_affiliates", ACTION_CHECKBOX_NAME: _ids(jane), "index": 0},
        )
    # then: an intermediate form, nothing changed, nothing sent
    html = response.content.decode()
    assert response.status_code == 200
    assert "Reason (sent to each affiliate)" in html
    assert "jane@example.com" in html
    assert 'name="reject_confirmed"' in html
    jane.refresh_from_db()
    assert (jane.rejected_at, jane.rejection_reason) == (None, "")
    assert mail.outbox == []


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("", "Give the reason: it is sent to the affiliate."),
        ("   ", "Give the reason: it is sent to the affiliate."),
        ("bad\x00reason", "Null characters are not allowed."),
    ],
)
def test_reject_action_requires_a_real_reason(
    staff_client, django_capture_on_commit_callbacks, reason, message
):
    # given
    jane = _pending("jane@example.com")
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            CHANGELIST,
            {
                "action": "reject_affiliates",
                ACTION_CHECKBOX_NAME: _ids(jane),
                "reject_confirmed": "1",
                "reason": reason,
            },
        )
    # then
    html = response.content.decode()
    assert response.status_code == 200
    assert message in html
    jane.refresh_from_db()
    assert (jane.rejected_at, jane.rejection_reason, jane.approved_affiliate) == (None, "", False)
    assert mail.outbox == []


def test_reject_action_with_a_reason_rejects_and_emails_each(
    staff_client, django_capture_on_commit_callbacks
):
    # given
    jane, john = _pending("jane@example.com"), _pending("john@example.com")
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            CHANGELIST,
            {
                "action": "reject_affiliates",
                ACTION_CHECKBOX_NAME: _ids(jane, john),
                "reject_confirmed": "1",
                "reason": "We only work with SaaS reviewers for now.",
            },
        )
    # then
    assert response.status_code == 302
    for user in (jane, john):
        user.refresh_from_db()
        assert user.rejected_at is not None
        assert user.rejection_reason == "We only work with SaaS reviewers for now."
        assert user.approved_affiliate is False
    assert sorted(m.to[0] for m in mail.outbox) == ["jane@example.com", "john@example.com"]
    assert all("We only work with SaaS reviewers for now." in m.body for m in mail.outbox)


def test_ban_action_bans_and_ends_sessions(staff_client):
    # given
    jane = _pending("jane@example.com", approved_affiliate=True)
    from kangrow.accounts import api

    api.generate_user_session_token(user=jane)
    # when
    response = staff_client.post(
        CHANGELIST, {"action": "ban_users", ACTION_CHECKBOX_NAME: _ids(jane), "index": 0}
    )
    # then
    assert response.status_code == 302
    jane.refresh_from_db()
    assert jane.banned is True
    assert UserToken.objects.filter(user=jane, context="session").count() == 0


def test_unban_block_and_unblock_actions(staff_client):
    # given
    jane = _pending("jane@example.com", banned=True)
    # when / then
    staff_client.post(
        CHANGELIST, {"action": "unban_users", ACTION_CHECKBOX_NAME: _ids(jane), "index": 0}
    )
    jane.refresh_from_db()
    assert (jane.banned, jane.blocked) == (False, False)
    staff_client.post(
        CHANGELIST, {"action": "block_users", ACTION_CHECKBOX_NAME: _ids(jane), "index": 0}
    )
    jane.refresh_from_db()
    assert (jane.banned, jane.blocked) == (False, True)
    staff_client.post(
        CHANGELIST, {"action": "unblock_users", ACTION_CHECKBOX_NAME: _ids(jane), "index": 0}
    )
    jane.refresh_from_db()
    assert (jane.banned, jane.blocked) == (False, False)


def test_change_form_keeps_approval_and_bans_read_only(staff_client):
    # given
    jane = _pending("jane@example.com")
    url = f"/admin/accounts/user/{jane.pk}/change/"
    # when: a crafted post tries to set the approval and ban flags directly
    response = staff_client.post(
        url,
        {
            "email": "jane@example.com",
            "first_name": "Jane",
            "last_name": "",
            "avatar_url": "",
            "approved_affiliate": "on",
            "banned": "on",
        },
    )
    # then: the editable name changed, the flags did not
    assert response.status_code == 302
    jane.refresh_from_db()
    assert jane.first_name == "Jane"
    assert (jane.approved_affiliate, jane.banned) == (False, False)


def test_users_cannot_be_hard_deleted(staff_client):
    jane = _pending("jane@example.com")
    response = staff_client.get(f"/admin/accounts/user/{jane.pk}/delete/")
    assert response.status_code == 403
    assert User.objects.filter(pk=jane.pk).exists()


def test_add_user_by_email_and_password(staff_client):
    # when
    response = staff_client.post(
        "/admin/accounts/user/add/",
        {
            "email": "added@example.com",
            "usable_password": "true",
            "password1": "a long enough password 42",
            "password2": "a long enough password 42",
        },
    )
    # then
    assert response.status_code == 302
    user = User.objects.get(email="added@example.com")
    assert user.check_password("a long enough password 42")
    assert user.is_staff is False
