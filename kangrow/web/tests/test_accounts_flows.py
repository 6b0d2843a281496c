"""The account pages as a person uses them: forms, links from the emails, cookies, lockout."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from kangrow.accounts import api
from kangrow.accounts.middleware import REMEMBER_ME_COOKIE, SESSION_KEY
from kangrow.accounts.models import User, UserToken
from kangrow.accounts.tests.helpers import PASSWORD, link_path, make_user, token_of

pytestmark = pytest.mark.django_db

IF_IN_SYSTEM = "If your email is in our system, you will receive instructions shortly."


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


def log_in(client, email="jane@example.com", password=PASSWORD, **extra):
    return client.post("/accounts/log-in", {"email": email, "password": password, **extra})


def flashes(response):
    return [str(m) for m in response.context["messages"]] if response.context else []


def scrub(html: str) -> str:
    """Drop the per-request CSRF and CSP values so two pages can be compared exactly."""
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)
    html = re.sub(r'"X-CSRFToken": "[^"]+"', "", html)
    return re.sub(r'nonce="[^"]+"', "", html)


# --------------------------------------------------------------------------- registration


def test_sign_up_confirm_and_wait_for_approval(client, on_commit):
    # given a visitor on the sign-up page
    page = client.get("/accounts/register")
    assert page.status_code == 200
    assert '<label for="id_email">Email</label>' in page.content.decode()
    # when they register
    with on_commit():
        response = client.post(
            "/accounts/register", {"email": "new@example.com", "password": PASSWORD}
        )
    # then they are logged in and told to confirm
    assert response.status_code == 302
    assert response["Location"] == "/onboarding/waiting"
    waiting = client.get("/onboarding/waiting")
    assert "email not confirmed yet" in waiting.content.decode()
    assert "Resend confirmation email" in waiting.content.decode()
    # and the confirmation email carries an absolute link
    assert len(mail.outbox) == 1
    assert mail.outbox[0].body.count("http://127.0.0.1:8000/accounts/confirm/") == 1
    path = link_path(mail.outbox[0])
    # when they open the link: a button, the link is not consumed by a GET
    page = client.get(path)
    assert page.status_code == 200
    assert "Confirm my account" in page.content.decode()
    assert UserToken.objects.filter(context="confirm").count() == 1
    response = client.post(path)
    # then
    assert response["Location"] == "/onboarding/waiting"
    waiting = client.get("/onboarding/waiting")
    assert "email confirmed, approval pending" in waiting.content.decode()
    assert client.get("/dashboard/")["Location"] == "/onboarding/waiting"
    # and a second use of the link fails with a clear message
    again = client.post(path, follow=True)
    assert "Confirmation link is invalid or it has expired." in flashes(again)


def test_registration_errors_are_shown_on_the_form_and_nothing_is_written(client, on_commit):
    make_user("taken@example.com")
    with on_commit():
        taken = client.post(
            "/accounts/register", {"email": "TAKEN@example.com", "password": PASSWORD}
        )
        short = client.post("/accounts/register", {"email": "s@example.com", "password": "short"})
        nul = client.post("/accounts/register", {"email": "s@example.com", "password": "a\x00" * 8})
    assert taken.status_code == short.status_code == nul.status_code == 422
    assert "This email has already been taken." in taken.content.decode()
    assert "This password is too short." in short.content.decode()
    assert "NUL character" in nul.content.decode()
    assert User.objects.count() == 1
    assert mail.outbox == []


def test_resend_confirmation_from_the_waiting_page(client, on_commit):
    make_user(verified=False, approved=False)
    log_in(client)
    with on_commit():
        response = client.post("/onboarding/waiting/resend", follow=True)
    assert "We sent a new confirmation link to jane@example.com." in flashes(response)
    assert [m.to for m in mail.outbox] == [["jane@example.com"]]


# --------------------------------------------------------------------------- log in


def test_password_log_in_records_the_login_and_cycles_the_session(client):
    user = make_user()
    planted = client.session
    planted["planted"] = "attacker"
    planted.save()
    client.cookies[settings.SESSION_COOKIE_NAME] = planted.session_key
    # when
    response = client.post(
        "/accounts/log-in",
        {"email": "jane@example.com", "password": PASSWORD},
        REMOTE_ADDR="198.51.100.23",
    )
    # then
    assert response.status_code == 302
    assert response["Location"] == "/dashboard/"
    session = client.session
    assert "planted" not in session
    token = session[SESSION_KEY]
    assert bytes(UserToken.objects.get(context="session").token) != token.encode()
    user.refresh_from_db()
    assert (user.logins_count, user.last_ip) == (1, "198.51.100.23")
    assert user.last_login is not None
    assert client.get("/dashboard/").status_code == 200


def test_log_in_follows_a_safe_next_and_ignores_an_outside_one(client):
    make_user()
    inside = log_in(client, next="/accounts/settings")
    assert inside["Location"] == "/accounts/settings"
    outside = log_in(Client(), next="https://evil.example/")
    assert outside["Location"] == "/dashboard/"


@pytest.mark.parametrize("who", ["unknown", "wrong", "banned", "blocked", "deleted"])
def test_failed_log_in_says_invalid_email_or_password_for_every_reason(client, who):
    flags = {
        "banned": {"banned": True},
        "blocked": {"blocked": True},
        "deleted": {"deleted_at": timezone.now()},
    }.get(who, {})
    make_user(**flags)
    email = "ghost@example.com" if who == "unknown" else "jane@example.com"
    password = "not the password" if who == "wrong" else PASSWORD
    response = log_in(client, email=email, password=password)
    assert response.status_code == 422
    assert flashes(response) == ["Invalid email or password"]
    assert SESSION_KEY not in client.session
    assert UserToken.objects.count() == 0


def test_failed_log_in_pages_are_identical_for_known_and_unknown_emails():
    make_user()
    known = log_in(Client(), email="jane@example.com", password="not the password")
    unknown = log_in(Client(), email="ghost@example.com", password="not the password")
    assert known.status_code == unknown.status_code == 422
    known_html = scrub(known.content.decode()).replace("jane@example.com", "X")
    assert known_html == scrub(unknown.content.decode()).replace("ghost@example.com", "X")


def test_five_bad_passwords_lock_the_account_even_from_other_ips():
    make_user()
    for i in range(4):
        assert (
            log_in(Client(REMOTE_ADDR=f"10.0.0.{i}"), password="bad password!").status_code == 422
        )
    fifth = log_in(Client(REMOTE_ADDR="10.0.0.5"), password="bad password!")
    assert fifth.status_code == 429
    # when the right password comes from yet another address
    locked = log_in(Client(REMOTE_ADDR="10.0.0.6"))
    # then it is still refused, and no session is created
    assert locked.status_code == 429
    assert "Too many failed log-in attempts" in locked.content.decode()
    assert UserToken.objects.filter(context="session").count() == 0
    assert User.objects.get().logins_count == 0


def test_five_bad_passwords_from_one_ip_lock_that_ip_for_every_account():
    make_user()
    make_user("other@example.com")
    attacker = Client(REMOTE_ADDR="10.1.1.1")
    for i in range(5):
        log_in(attacker, email=f"guess{i}@example.com", password="bad password!")
    assert log_in(attacker, email="other@example.com").status_code == 429
    # another address is not affected
    assert log_in(Client(REMOTE_ADDR="10.2.2.2"), email="other@example.com").status_code == 302
    assert UserToken.objects.filter(context="session").count() == 1


def test_a_successful_log_in_resets_the_failure_count(client):
    make_user()
    for _ in range(4):
        log_in(client, password="bad password!")
    assert log_in(client).status_code == 302
    for _ in range(4):
        assert log_in(Client(), password="bad password!").status_code == 422
    assert log_in(Client()).status_code == 302


def test_remember_me_keeps_the_user_logged_in_after_the_browser_session_ends(client):
    make_user()
    response = log_in(client, remember_me="on")
    cookie = response.cookies[REMEMBER_ME_COOKIE]
    assert cookie["max-age"] == 14 * 24 * 3600
    assert cookie["httponly"] is True
    # when the browser drops its session cookie
    del client.cookies[settings.SESSION_COOKIE_NAME]
    # then the signed remember-me cookie logs it back in
    assert client.get("/dashboard/").status_code == 200
    without = Client()
    response = log_in(without)
    assert response.cookies[REMEMBER_ME_COOKIE].value == ""
    del without.cookies[settings.SESSION_COOKIE_NAME]
    assert without.get("/dashboard/").status_code == 302


def test_a_forged_remember_me_cookie_is_ignored(client):
    user = make_user()
    raw = api.generate_user_session_token(user=user)
    client.cookies[REMEMBER_ME_COOKIE] = raw  # unsigned
    assert client.get("/dashboard/")["Location"].startswith("/accounts/log-in")


# --------------------------------------------------------------------------- log out


def test_log_out_deletes_this_session_token_and_the_cookies(client):
    make_user()
    log_in(client, remember_me="on")
    stolen = client.cookies[settings.SESSION_COOKIE_NAME].value
    other = Client()
    log_in(other)
    # when
    response = client.post("/accounts/log-out", follow=True)
    # then
    assert "Logged out successfully." in flashes(response)
    assert client.cookies[REMEMBER_ME_COOKIE].value == ""
    assert UserToken.objects.filter(context="session").count() == 1
    replay = Client()
    replay.cookies[settings.SESSION_COOKIE_NAME] = stolen
    assert replay.get("/dashboard/").status_code == 302
    assert other.get("/dashboard/").status_code == 200


def test_log_out_with_only_the_remember_me_cookie_deletes_its_token(client):
    make_user()
    log_in(client, remember_me="on")
    del client.cookies[settings.SESSION_COOKIE_NAME]
    client.post("/accounts/log-out")
    assert UserToken.objects.filter(context="session").count() == 0


def test_reset_requests_are_rate_limited_per_email_with_a_clear_message(on_commit):
    make_user()
    with on_commit():
        for _ in range(3):
            Client().post("/accounts/reset-password", {"email": "jane@example.com"})
        limited = Client().post("/accounts/reset-password", {"email": "JANE@example.com"})
    assert limited.status_code == 429
    assert "Too many requests. Please wait a few minutes before trying again." in flashes(limited)
    assert len(mail.outbox) == 3


def test_lockout_counts_an_email_in_any_letter_case_as_one_account():
    make_user()
    for i, email in enumerate(["JANE@example.com", "Jane@Example.com", "jane@EXAMPLE.com"] * 2):
        log_in(Client(REMOTE_ADDR=f"10.3.0.{i}"), email=email, password="bad password!")
    assert log_in(Client(REMOTE_ADDR="10.3.1.1")).status_code == 429


def test_log_out_is_post_only(client):
    make_user()
    log_in(client)
    assert client.get("/accounts/log-out").status_code == 405
    assert client.get("/dashboard/").status_code == 200


def test_log_out_everywhere_ends_every_session(client):
    make_user()
    log_in(client)
    other = Client()
    log_in(other, remember_me="on")
    response = client.post("/accounts/log-out-everywhere", follow=True)
    assert "Logged out on every device." in flashes(response)
    assert UserToken.objects.filter(context="session").count() == 0
    assert other.get("/dashboard/").status_code == 302


def test_a_ban_ends_a_live_session_on_the_next_request(client):
    user = make_user()
    log_in(client)
    assert client.get("/dashboard/").status_code == 200
    api.ban_user(user_id=user.pk)
    assert client.get("/dashboard/")["Location"] == "/accounts/log-in?next=%2Fdashboard%2F"


def test_the_middleware_refuses_an_inactive_user_even_with_a_live_token(client):
    user = make_user()
    log_in(client)
    User.objects.filter(pk=user.pk).update(blocked=True)  # flag only, token row still there
    assert UserToken.objects.filter(context="session").count() == 1
    assert client.get("/accounts/settings").status_code == 302
    User.objects.filter(pk=user.pk).update(blocked=False, deleted_at=timezone.now())
    assert client.get("/accounts/settings").status_code == 302


# --------------------------------------------------------------------------- magic links


def test_magic_link_request_answers_the_same_for_known_and_unknown_emails(on_commit):
    make_user()
    with on_commit():
        known = Client().post(
            "/accounts/log-in/magic-link", {"email": "jane@example.com"}, follow=True
        )
        unknown = Client().post(
            "/accounts/log-in/magic-link", {"email": "x@example.com"}, follow=True
        )
    assert known.redirect_chain == unknown.redirect_chain == [("/accounts/log-in", 302)]
    assert flashes(known) == flashes(unknown) == [IF_IN_SYSTEM]
    assert scrub(known.content.decode()) == scrub(unknown.content.decode())
    assert [m.to for m in mail.outbox] == [["jane@example.com"]]


def test_magic_link_logs_in_once(client, on_commit):
    make_user()
    with on_commit():
        client.post("/accounts/log-in/magic-link", {"email": "jane@example.com"})
    path = link_path(mail.outbox[0])
    assert path.startswith("/accounts/log-in/")
    page = client.get(path)
    assert "Welcome jane@example.com" in page.content.decode()
    response = client.post(path, {"remember_me": "0"})
    assert response["Location"] == "/dashboard/"
    assert User.objects.get().logins_count == 1
    again = Client().post(path, follow=True)
    assert flashes(again) == ["Magic link is invalid or it has expired."]
    assert User.objects.get().logins_count == 1


def test_an_expired_magic_link_is_refused(client, on_commit):
    make_user()
    with on_commit():
        client.post("/accounts/log-in/magic-link", {"email": "jane@example.com"})
    path = link_path(mail.outbox[0])
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        response = client.post(path, follow=True)
    assert flashes(response)[-1] == "Magic link is invalid or it has expired."
    assert UserToken.objects.filter(context="session").count() == 0


def test_magic_link_requests_are_rate_limited_with_a_clear_message(on_commit):
    make_user()
    with on_commit():
        for _ in range(3):
            Client().post("/accounts/log-in/magic-link", {"email": "jane@example.com"})
        limited = Client().post("/accounts/log-in/magic-link", {"email": "jane@example.com"})
    assert limited.status_code == 429
    assert "Too many requests. Please wait a few minutes before trying again." in flashes(limited)
    assert len(mail.outbox) == 3


# --------------------------------------------------------------------------- password reset


def test_reset_password_by_email(client, on_commit):
    make_user()
    with on_commit():
        response = client.post(
            "/accounts/reset-password", {"email": "jane@example.com"}, follow=True
        )
    assert flashes(response) == [IF_IN_SYSTEM]
    path = link_path(mail.outbox[0])
    assert client.get(path).status_code == 200
    response = client.post(
        path, {"password": "my new long password", "password_confirmation": "my new long password"}
    )
    assert response["Location"] == "/accounts/log-in"
    assert log_in(Client()).status_code == 422
    assert log_in(Client(), password="my new long password").status_code == 302
    used = client.get(path, follow=True)
    assert flashes(used)[-1] == "Reset password link is invalid or it has expired."


def test_reset_request_answers_the_same_for_unknown_emails(on_commit):
    make_user()
    with on_commit():
        known = Client().post(
            "/accounts/reset-password", {"email": "jane@example.com"}, follow=True
        )
        unknown = Client().post(
            "/accounts/reset-password", {"email": "no@example.com"}, follow=True
        )
    assert known.redirect_chain == unknown.redirect_chain
    assert scrub(known.content.decode()) == scrub(unknown.content.decode())
    assert len(mail.outbox) == 1


def test_reset_form_shows_password_errors_and_keeps_the_old_password(client, on_commit):
    user = make_user()
    with on_commit():
        client.post("/accounts/reset-password", {"email": "jane@example.com"})
    path = link_path(mail.outbox[0])
    response = client.post(path, {"password": "short", "password_confirmation": "short"})
    assert response.status_code == 422
    assert "This password is too short." in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


# --------------------------------------------------------------------------- settings


def test_settings_needs_recent_authentication_for_email_and_password(client, on_commit):
    make_user()
    log_in(client)
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        page = client.get("/accounts/settings")
        assert "re-authenticate" in page.content.decode()
        assert "Change email" not in page.content.decode()
        with on_commit():
            response = client.post("/accounts/settings/email", {"email": "new@example.com"})
        assert response["Location"] == "/accounts/log-in?next=/accounts/settings&reauth=1"
        assert mail.outbox == []
        assert not UserToken.objects.filter(context__startswith="change:").exists()
        # when the user logs in again
        again = log_in(client, next="/accounts/settings")
        assert again["Location"] == "/accounts/settings"
        with on_commit():
            response = client.post("/accounts/settings/email", {"email": "new@example.com"})
    assert response["Location"] == "/accounts/settings"
    assert [m.to for m in mail.outbox] == [["new@example.com"]]
    # re-authenticating replaced this device's token instead of adding one
    assert UserToken.objects.filter(context="session").count() == 1


def test_change_email_is_applied_from_the_link_on_the_new_address(client, on_commit):
    make_user()
    log_in(client)
    with on_commit():
        client.post("/accounts/settings/email", {"email": "jane.new@example.com"})
    path = link_path(mail.outbox[0])
    response = client.get(path, follow=True)
    assert flashes(response)[-1] == "Email changed successfully."
    assert User.objects.get().email == "jane.new@example.com"
    assert flashes(client.get(path, follow=True)) == [
        "Email change link is invalid or it has expired."
    ]


def test_change_email_link_needs_the_user_to_be_logged_in(client, on_commit):
    user = make_user()
    with on_commit():
        api.request_email_change(user=user, new_email="jane.new@example.com")
    response = client.get(link_path(mail.outbox[0]))
    assert response["Location"].startswith(
        "/accounts/log-in?next=%2Faccounts%2Fsettings%2Fconfirm-email%2F"
    )
    assert User.objects.get().email == "jane@example.com"


def test_change_password_logs_out_other_sessions_and_keeps_this_one(client):
    make_user()
    log_in(client)
    other = Client()
    log_in(other)
    response = client.post(
        "/accounts/settings/password",
        {"password": "a fresh long password", "password_confirmation": "a fresh long password"},
        follow=True,
    )
    assert flashes(response)[-1] == "Password updated. Your other sessions have been logged out."
    assert client.get("/dashboard/").status_code == 200
    assert other.get("/dashboard/").status_code == 302
    assert User.objects.get().check_password("a fresh long password")


def test_change_password_mismatch_is_a_form_error(client):
    make_user()
    log_in(client)
    response = client.post(
        "/accounts/settings/password",
        {"password": "a fresh long password", "password_confirmation": "something else"},
    )
    assert response.status_code == 422
    assert "The passwords do not match." in response.content.decode()
    assert User.objects.get().check_password(PASSWORD)


def test_profile_update(client):
    make_user()
    log_in(client)
    response = client.post(
        "/accounts/settings/profile",
        {"first_name": "Jane", "last_name": "Doe", "avatar_url": "https://img.example/j.png"},
        follow=True,
    )
    assert flashes(response)[-1] == "Profile updated."
    user = User.objects.get()
    assert (user.first_name, user.last_name, user.avatar_url) == (
        "Jane",
        "Doe",
        "https://img.example/j.png",
    )
    bad = client.post("/accounts/settings/profile", {"first_name": "x", "avatar_url": "nope nope"})
    assert bad.status_code == 422
    assert User.objects.get().first_name == "Jane"


# --------------------------------------------------------------------------- layout and emails


def test_layout_has_a_skip_link_labels_and_a_nonced_htmx_script(client):
    response = client.get("/accounts/log-in")
    html = response.content.decode()
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"]).group(1)
    assert '<a class="skip-link" href="#main">Skip to main content</a>' in html
    assert f'<script src="/static/django_htmx/htmx-2.min.js" defer nonce="{nonce}">' in html
    assert '<label for="id_password">Password</label>' in html
    assert '<label for="link_email">Email for a log-in link</label>' in html
    assert "https://" not in re.sub(r'href="https?://[^"]*"', "", html.split("<body")[0])


def test_email_links_use_the_configured_base_url(settings, on_commit):
    settings.KANGROW_BASE_URL = "https://affiliates.example.com"
    make_user()
    with on_commit():
        api.request_magic_link(email="jane@example.com", ip="1.1.1.1")
    message = mail.outbox[0]
    raw = token_of(message)
    assert f"https://affiliates.example.com/accounts/log-in/{raw}" in message.body
    assert (
        f'href="https://affiliates.example.com/accounts/log-in/{raw}"' in message.alternatives[0][0]
    )
