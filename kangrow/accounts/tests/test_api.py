"""The accounts context's api: each flow, its expiry and single-use rules."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import RequestFactory
from django.utils import timezone

from kangrow.accounts import api, tokens
from kangrow.accounts.models import RefreshToken, User, UserToken
from kangrow.notifications.models import Notification, OutboxEmail

from .helpers import PASSWORD, make_user, token_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    """Run on-commit callbacks (emails) at the end of the block, as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def _request(ip="203.0.113.7"):
    return RequestFactory().post("/accounts/log-in", REMOTE_ADDR=ip)


def _refresh_token(user):
    return RefreshToken.objects.create(
        user=user,
        token=tokens.hex_digest(tokens.new_raw_token()),
        expires_at=timezone.now() + timedelta(days=30),
    )


# --------------------------------------------------------------------------- registration


def test_register_creates_an_unconfirmed_user_and_sends_a_hashed_confirmation_token(on_commit):
    # when
    with on_commit():
        login = api.register_user(email="New@Example.COM", password=PASSWORD, ip="198.51.100.1")
    # then
    user = User.objects.get()
    assert login.user == user
    assert user.email == "New@example.com"
    assert (user.email_verified, user.verified, user.confirmed_at) == (False, False, None)
    assert user.check_password(PASSWORD)
    assert user.password.startswith("md5$")  # hashed (Argon2 outside the tests)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["New@example.com"]
    assert message.subject == "Confirm your KanGrow account"
    assert message.alternatives[0][1] == "text/html"
    raw = token_of(message)
    assert raw in message.alternatives[0][0]
    row = UserToken.objects.get(context="confirm")
    assert bytes(row.token) == tokens.digest(raw)
    assert row.sent_to == "New@example.com"
    assert not UserToken.objects.filter(token=raw.encode()).exists()
    assert UserToken.objects.filter(context="session").count() == 1
    assert (user.logins_count, user.last_ip) == (1, "198.51.100.1")


@pytest.mark.parametrize(
    ("email", "password", "field", "message"),
    [
        ("not-an-email", PASSWORD, "email", "Enter a valid email address."),
        ("a\x00b@example.com", PASSWORD, "email", "NUL"),
        ("x@example.com", "short", "password", "This password is too short."),
        ("x@example.com", "p" * 73 + "q", "password", "This password is too long."),
        ("x@example.com", "password1234", "password", "This password is too common."),
    ],
)
def test_register_rejects_bad_input_and_writes_nothing(on_commit, email, password, field, message):
    with on_commit(), pytest.raises(ValidationError) as exc:
        api.register_user(email=email, password=password, ip=None)
    assert field in exc.value.message_dict
    assert message in " ".join(exc.value.message_dict[field])
    assert User.objects.count() == 0
    assert UserToken.objects.count() == 0
    assert mail.outbox == []


def test_register_accepts_72_characters_and_refuses_a_taken_email_case_insensitively(on_commit):
    with on_commit():
        api.register_user(email="taken@example.com", password="a" * 71 + "b", ip=None)
        with pytest.raises(ValidationError) as exc:
            api.register_user(email="TAKEN@example.com", password=PASSWORD, ip=None)
    assert exc.value.message_dict == {"email": ["This email has already been taken."]}
    assert User.objects.count() == 1
    assert len(mail.outbox) == 1


# --------------------------------------------------------------------------- confirmation


def test_confirm_sets_the_confirmation_columns_and_is_single_use(on_commit):
    with on_commit():
        login = api.register_user(email="c@example.com", password=PASSWORD, ip=None)
    raw = token_of(mail.outbox[0])
    # when
    confirmed = api.confirm_user(token=raw)
    # then
    user = User.objects.get(pk=login.user.pk)
    assert confirmed.pk == user.pk
    assert (user.email_verified, user.verified) == (True, True)
    assert user.confirmed_at is not None
    assert not UserToken.objects.filter(context="confirm").exists()
    assert api.confirm_user(token=raw) is None


def test_confirm_token_expires_after_7_days(on_commit):
    with on_commit():
        api.register_user(email="c@example.com", password=PASSWORD, ip=None)
    raw = token_of(mail.outbox[0])
    with time_machine.travel(timezone.now() + timedelta(days=7, seconds=1)):
        assert api.get_user_by_confirm_token(token=raw) is None
        assert api.confirm_user(token=raw) is None
    assert User.objects.get().email_verified is False
    with time_machine.travel(timezone.now() + timedelta(days=6, hours=23)):
        assert api.confirm_user(token=raw) is not None


def test_resend_confirmation_sends_a_new_link_only_while_unconfirmed(on_commit):
    unconfirmed = make_user("u@example.com", verified=False, approved=False)
    confirmed = make_user("c@example.com")
    with on_commit():
        assert api.deliver_confirmation_instructions(user_id=unconfirmed.pk, ip="1.2.3.4") is (
            api.RequestOutcome.ACCEPTED
        )
        api.deliver_confirmation_instructions(user_id=confirmed.pk, ip="1.2.3.4")
    assert [m.to for m in mail.outbox] == [["u@example.com"]]
    assert api.confirm_user(token=token_of(mail.outbox[0])).pk == unconfirmed.pk


# --------------------------------------------------------------------------- password login


def test_password_login_records_the_login_and_issues_a_hashed_session_token():
    user = make_user()
    with time_machine.travel("2026-11-20 10:00:00Z", tick=False):
        login = api.log_in_with_password(
            request=_request("203.0.113.9"), email="JANE@example.com", password=PASSWORD
        )
    user.refresh_from_db()
    assert login.user.pk == user.pk
    assert user.logins_count == 1
    assert user.last_login.isoformat() == "2026-11-20T10:00:00+00:00"
    assert user.last_ip == "203.0.113.9"
    row = UserToken.objects.get(context="session")
    assert bytes(row.token) == tokens.digest(login.session_token)
    assert login.session_token.encode() not in bytes(row.token)
    assert row.authenticated_at.isoformat() == "2026-11-20T10:00:00+00:00"
    api.log_in_with_password(request=_request(), email="jane@example.com", password=PASSWORD)
    user.refresh_from_db()
    assert user.logins_count == 2


@pytest.mark.parametrize("flag", ["banned", "blocked", "deleted_at", "wrong", "unknown"])
def test_password_login_refuses_bad_credentials_and_inactive_users_alike(flag):
    values = {"banned": True, "blocked": True, "deleted_at": timezone.now()}
    user = make_user(**({flag: values[flag]} if flag in values else {}))
    email = "nobody@example.com" if flag == "unknown" else user.email
    password = "wrong password!!" if flag == "wrong" else PASSWORD
    assert api.log_in_with_password(request=_request(), email=email, password=password) is None
    user.refresh_from_db()
    assert user.logins_count == 0
    assert UserToken.objects.filter(context="session").count() == 0


def test_session_tokens_expire_after_14_days():
    user = make_user()
    raw = api.generate_user_session_token(user=user)
    with time_machine.travel(timezone.now() + timedelta(days=13, hours=23)):
        assert api.get_user_by_session_token(token=raw)[0].pk == user.pk
    with time_machine.travel(timezone.now() + timedelta(days=14, seconds=1)):
        assert api.get_user_by_session_token(token=raw) is None


def test_sudo_mode_lasts_15_minutes_from_authentication():
    user = make_user()
    raw = api.generate_user_session_token(user=user)
    _, row = api.get_user_by_session_token(token=raw)
    assert api.is_sudo_mode(token_row=row) is True
    with time_machine.travel(timezone.now() + timedelta(minutes=14, seconds=50)):
        assert api.is_sudo_mode(token_row=row) is True
    with time_machine.travel(timezone.now() + timedelta(minutes=15, seconds=1)):
        assert api.is_sudo_mode(token_row=row) is False
    assert api.is_sudo_mode(token_row=None) is False


def test_log_out_everywhere_deletes_every_session_of_the_user_only():
    user = make_user()
    other = make_user("other@example.com")
    first = api.generate_user_session_token(user=user)
    api.generate_user_session_token(user=user)
    kept = api.generate_user_session_token(user=other)
    assert api.log_out_everywhere(user_id=user.pk) == 2
    assert api.get_user_by_session_token(token=first) is None
    assert api.get_user_by_session_token(token=kept)[0].pk == other.pk


# --------------------------------------------------------------------------- magic links


def test_magic_link_logs_in_once_within_15_minutes(on_commit):
    user = make_user()
    with on_commit():
        assert api.request_magic_link(email="jane@EXAMPLE.com", ip="1.1.1.1") is (
            api.RequestOutcome.ACCEPTED
        )
    assert mail.outbox[0].to == ["jane@example.com"]
    raw = token_of(mail.outbox[0])
    row = UserToken.objects.get(context="login")
    assert (bytes(row.token), row.sent_to) == (tokens.digest(raw), "jane@example.com")
    # when
    login = api.log_in_with_magic_link(token=raw, ip="1.1.1.2")
    # then
    assert login.user.pk == user.pk
    assert login.confirmed_now is False
    user.refresh_from_db()
    assert (user.logins_count, user.last_ip) == (1, "1.1.1.2")
    assert api.log_in_with_magic_link(token=raw, ip="1.1.1.2") is None
    assert not UserToken.objects.filter(context="login").exists()


def test_magic_link_expires_after_15_minutes(on_commit):
    make_user()
    with on_commit():
        api.request_magic_link(email="jane@example.com", ip="1.1.1.1")
    raw = token_of(mail.outbox[0])
    with time_machine.travel(timezone.now() + timedelta(minutes=15, seconds=1)):
        assert api.get_user_by_magic_link_token(token=raw) is None
        assert api.log_in_with_magic_link(token=raw, ip=None) is None
    assert UserToken.objects.filter(context="session").count() == 0


def test_magic_link_is_only_valid_for_the_address_it_was_sent_to(on_commit):
    user = make_user()
    with on_commit():
        api.request_magic_link(email="jane@example.com", ip="1.1.1.1")
    raw = token_of(mail.outbox[0])
    User.objects.filter(pk=user.pk).update(email="jane.new@example.com")
    assert api.get_user_by_magic_link_token(token=raw) is None
    assert api.log_in_with_magic_link(token=raw, ip=None) is None
    assert UserToken.objects.filter(context="session").count() == 0


def test_magic_link_for_unknown_or_banned_email_sends_nothing(on_commit):
    make_user("banned@example.com", banned=True)
    with on_commit():
        assert api.request_magic_link(email="ghost@example.com", ip="1.1.1.1") is (
            api.RequestOutcome.ACCEPTED
        )
        assert api.request_magic_link(email="banned@example.com", ip="1.1.1.1") is (
            api.RequestOutcome.ACCEPTED
        )
    assert mail.outbox == []
    assert UserToken.objects.count() == 0


def test_magic_link_confirms_an_unconfirmed_user_and_discards_the_unproven_password(on_commit):
    user = make_user(verified=False, approved=False)
    old_session = api.generate_user_session_token(user=user)
    with on_commit():
        api.request_magic_link(email=user.email, ip="1.1.1.1")
    login = api.log_in_with_magic_link(token=token_of(mail.outbox[0]), ip=None)
    user.refresh_from_db()
    assert login.confirmed_now is True
    assert (user.email_verified, user.verified) == (True, True)
    assert user.confirmed_at is not None
    assert user.has_usable_password() is False
    assert api.get_user_by_session_token(token=old_session) is None
    assert api.get_user_by_session_token(token=login.session_token)[0].pk == user.pk


def test_magic_link_requests_are_rate_limited_per_email_and_per_ip(on_commit):
    make_user()
    with on_commit():
        outcomes = [
            api.request_magic_link(email="jane@example.com", ip=f"10.0.0.{i}") for i in range(4)
        ]
    assert outcomes == [api.RequestOutcome.ACCEPTED] * 3 + [api.RequestOutcome.RATE_LIMITED]
    assert len(mail.outbox) == 3
    by_ip = [api.request_magic_link(email=f"x{i}@example.com", ip="10.9.9.9") for i in range(11)]
    assert by_ip == [api.RequestOutcome.ACCEPTED] * 10 + [api.RequestOutcome.RATE_LIMITED]


# --------------------------------------------------------------------------- password reset


def test_password_reset_stores_a_hex_digest_and_resets_once(on_commit):
    user = make_user()
    session = api.generate_user_session_token(user=user)
    refresh = _refresh_token(user)
    with on_commit():
        api.request_password_reset(email="Jane@example.com", ip="1.1.1.1")
    raw = token_of(mail.outbox[0])
    user.refresh_from_db()
    assert user.reset_password_token == tokens.hex_digest(raw)
    assert user.reset_password_sent_at is not None
    # when
    done = api.reset_password(
        token=raw, password="a brand new password", password_confirmation="a brand new password"
    )
    # then
    user.refresh_from_db()
    assert done.pk == user.pk
    assert user.check_password("a brand new password")
    assert (user.reset_password_token, user.reset_password_sent_at) == (None, None)
    assert user.last_password_reset is not None
    assert api.get_user_by_session_token(token=session) is None
    refresh.refresh_from_db()
    assert refresh.revoked is True
    assert (
        api.reset_password(
            token=raw, password="another password!", password_confirmation="another password!"
        )
        is None
    )


def test_password_reset_link_expires_after_one_day(on_commit):
    user = make_user()
    with on_commit():
        api.request_password_reset(email=user.email, ip="1.1.1.1")
    raw = token_of(mail.outbox[0])
    with time_machine.travel(timezone.now() + timedelta(days=1, seconds=1)):
        assert api.get_user_by_reset_password_token(token=raw) is None
        assert (
            api.reset_password(
                token=raw,
                password="a brand new password",
                password_confirmation="a brand new password",
            )
            is None
        )
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert user.last_password_reset is None


def test_password_reset_refuses_a_weak_or_mismatched_password_and_keeps_the_token(on_commit):
    user = make_user()
    with on_commit():
        api.request_password_reset(email=user.email, ip="1.1.1.1")
    raw = token_of(mail.outbox[0])
    with pytest.raises(ValidationError) as exc:
        api.reset_password(token=raw, password="short", password_confirmation="short")
    assert "password" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        api.reset_password(token=raw, password="a brand new password", password_confirmation="x")
    assert exc.value.message_dict == {"password_confirmation": ["The passwords do not match."]}
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert user.reset_password_token == tokens.hex_digest(raw)


def test_password_reset_for_unknown_email_writes_and_sends_nothing(on_commit):
    with on_commit():
        assert api.request_password_reset(email="ghost@example.com", ip="1.1.1.1") is (
            api.RequestOutcome.ACCEPTED
        )
    assert mail.outbox == []


# --------------------------------------------------------------------------- settings


def test_email_change_is_confirmed_on_the_new_address_and_applied_once(on_commit):
    user = make_user()
    with on_commit():
        api.request_email_change(user=user, new_email="jane2@example.com")
    message = mail.outbox[0]
    assert message.to == ["jane2@example.com"]
    row = UserToken.objects.get()
    assert (row.context, row.sent_to) == ("change:jane@example.com", "jane2@example.com")
    user.refresh_from_db()
    assert user.email == "jane@example.com"
    # when
    assert api.apply_email_change(user=user, token=token_of(message)) is True
    # then
    user.refresh_from_db()
    assert user.email == "jane2@example.com"
    assert not UserToken.objects.filter(context__startswith="change:").exists()
    assert api.apply_email_change(user=user, token=token_of(message)) is False


def test_email_change_link_expires_after_7_days_and_belongs_to_its_user(on_commit):
    user = make_user()
    other = make_user("other@example.com")
    with on_commit():
        api.request_email_change(user=user, new_email="jane2@example.com")
    raw = token_of(mail.outbox[0])
    assert api.apply_email_change(user=other, token=raw) is False
    with time_machine.travel(timezone.now() + timedelta(days=7, seconds=1)):
        assert api.apply_email_change(user=user, token=raw) is False
    user.refresh_from_db()
    assert user.email == "jane@example.com"


@pytest.mark.parametrize(
    ("new_email", "error"),
    [
        ("jane@example.com", "The email did not change."),
        ("OTHER@example.com", "This email has already been taken."),
        ("nope", "Enter a valid email address."),
    ],
)
def test_email_change_refuses_bad_addresses_and_sends_nothing(on_commit, new_email, error):
    user = make_user()
    make_user("other@example.com")
    with on_commit(), pytest.raises(ValidationError) as exc:
        api.request_email_change(user=user, new_email=new_email)
    assert exc.value.message_dict == {"email": [error]}
    assert mail.outbox == []
    assert UserToken.objects.count() == 0


def test_change_password_keeps_the_current_session_and_deletes_the_others():
    user = make_user()
    current = api.generate_user_session_token(user=user)
    other = api.generate_user_session_token(user=user)
    refresh = _refresh_token(user)
    _, row = api.get_user_by_session_token(token=current)
    api.change_password(
        user=user,
        current_token_id=row.pk,
        password="a brand new password",
        password_confirmation="a brand new password",
    )
    user.refresh_from_db()
    assert user.check_password("a brand new password")
    assert api.get_user_by_session_token(token=current) is not None
    assert api.get_user_by_session_token(token=other) is None
    refresh.refresh_from_db()
    assert refresh.revoked is True


def test_update_profile_sets_names_and_avatar_and_refuses_a_bad_url():
    user = make_user()
    api.update_profile(
        user=user, first_name=" Jane ", last_name="Doe", avatar_url="https://cdn.example/a.png"
    )
    user.refresh_from_db()
    assert (user.first_name, user.last_name, user.avatar_url) == (
        "Jane",
        "Doe",
        "https://cdn.example/a.png",
    )
    with pytest.raises(ValidationError) as exc:
        api.update_profile(user=user, first_name="J\x00", last_name="", avatar_url="javascript:x")
    assert set(exc.value.message_dict) == {"first_name", "avatar_url"}
    user.refresh_from_db()
    assert user.first_name == "Jane"


# --------------------------------------------------------------------------- bans and approval


@pytest.mark.parametrize(
    ("action", "column"),
    [("ban_user", "banned"), ("block_user", "blocked"), ("soft_delete_user", "deleted_at")],
)
def test_ban_block_and_soft_delete_kill_sessions_and_refresh_tokens_at_once(action, column):
    user = make_user()
    other = make_user("other@example.com")
    session = api.generate_user_session_token(user=user)
    other_session = api.generate_user_session_token(user=other)
    refresh = _refresh_token(user)
    # when
    assert getattr(api, action)(user_id=user.pk) is True
    # then
    user.refresh_from_db()
    assert getattr(user, column) not in (False, None)
    assert not UserToken.objects.filter(user=user).exists()
    assert api.get_user_by_session_token(token=session) is None
    refresh.refresh_from_db()
    assert refresh.revoked is True
    assert api.get_user_by_session_token(token=other_session) is not None


def test_unban_and_unblock_let_the_user_log_in_again():
    user = make_user(banned=True, blocked=True)
    api.unban_user(user_id=user.pk)
    api.unblock_user(user_id=user.pk)
    assert api.log_in_with_password(request=_request(), email=user.email, password=PASSWORD)


def test_approve_affiliates_approves_only_verified_pending_users_and_emails_them(on_commit):
    pending = make_user(
        "p@example.com", approved=False, rejected_at=timezone.now(), rejection_reason="x"
    )
    unverified = make_user("u@example.com", verified=False, approved=False)
    approved = make_user("a@example.com")
    with on_commit():
        count = api.approve_affiliates(user_ids=[pending.pk, unverified.pk, approved.pk])
    assert count == 1
    pending.refresh_from_db()
    assert pending.approved_affiliate is True
    assert (pending.rejected_at, pending.rejection_reason) == (None, "")
    unverified.refresh_from_db()
    assert unverified.approved_affiliate is False
    assert [(m.to, m.subject) for m in mail.outbox] == [
        (["p@example.com"], "You are approved as a KanGrow affiliate")
    ]
    assert "http://127.0.0.1:8000/dashboard/" in mail.outbox[0].body
    # the notification centre has it too, in-app only (the decision email is the one above)
    note = Notification.objects.get()
    assert (note.user_id, note.kind) == (pending.pk, "affiliate.approved")
    assert not OutboxEmail.objects.exists()


def test_reject_affiliates_records_the_reason_and_emails_it(on_commit):
    pending = make_user("p@example.com", approved=False)
    approved = make_user("a@example.com")
    with on_commit():
        count = api.reject_affiliates(
            user_ids=[pending.pk, approved.pk], reason="No website & no audience"
        )
    assert count == 1
    pending.refresh_from_db()
    assert pending.rejection_reason == "No website & no audience"
    assert pending.rejected_at is not None
    approved.refresh_from_db()
    assert approved.rejected_at is None
    assert len(mail.outbox) == 1
    assert "Reason: No website & no audience" in mail.outbox[0].body
    assert "No website &amp; no audience" in mail.outbox[0].alternatives[0][0]


def test_reject_affiliates_requires_a_reason_and_changes_nothing(on_commit):
    pending = make_user("p@example.com", approved=False)
    with on_commit(), pytest.raises(ValidationError):
        api.reject_affiliates(user_ids=[pending.pk], reason="  ")
    pending.refresh_from_db()
    assert pending.rejected_at is None
    assert mail.outbox == []


def test_demo_load_is_idempotent():
    import io

    from kangrow.accounts import demo

    out = io.StringIO()
    demo.load(out)
    demo.load(out)
    approved = User.objects.get(email="affiliate@kangrow.local")
    pending = User.objects.get(email="pending@kangrow.local")
    assert User.objects.count() == 2
    assert (approved.approved_affiliate, approved.verified, approved.email_verified) == (
        True,
        True,
        True,
    )
    assert (pending.approved_affiliate, pending.verified) == (False, True)
    assert approved.check_password("kangrow-demo-pass")
    assert "affiliate@kangrow.local / kangrow-demo-pass" in out.getvalue()


def test_upsert_affiliate_updates_changed_flags_and_password():
    user, created = api.upsert_affiliate(
        email="p@example.com", password=PASSWORD, verified=True, approved=True
    )
    again, created_again = api.upsert_affiliate(
        email="P@example.com", password="another long password", verified=True, approved=False
    )
    assert (created, created_again) == (True, False)
    assert again.pk == user.pk
    again.refresh_from_db()
    assert again.approved_affiliate is False
    assert again.verified is True
    assert again.check_password("another long password")
    assert User.objects.count() == 1
