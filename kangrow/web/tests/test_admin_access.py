"""/admin/ permission matrix: anonymous, affiliate, banned staff, staff without a second factor,
staff with a device not verified in this session, verified staff."""

from base64 import b32encode

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from kangrow.accounts.models import User, UserToken
from kangrow.web.admin.site import portal_log_in_url
from kangrow.web.admin.testing import current_code, log_in, wrong_code

pytestmark = pytest.mark.django_db

ADMIN_CONTENT_MARKERS = [
    "Apps, campaigns, affiliates and money",
    'href="/admin/accounts/user/"',
    "TOTP devices",
]


def _no_admin_content(html: str) -> None:
    for marker in ADMIN_CONTENT_MARKERS:
        assert marker not in html


def _staff(email="staff@example.com", **extra):
    return User.objects.create_superuser(email, "correct horse battery staple", **extra)


def _affiliate(email="jane@example.com"):
    return User.objects.create_user(
        email,
        "correct horse battery staple",
        email_verified=True,
        verified=True,
        confirmed_at=timezone.now(),
        approved_affiliate=True,
    )


def _device(user, confirmed=True):
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=confirmed)


def test_anonymous_is_sent_to_the_portal_log_in_with_next(client):
    # when
    first = client.get("/admin/accounts/user/")
    second = client.get(first["Location"])
    # then
    assert first.status_code == 302
    assert first["Location"] == "/admin/login/?next=/admin/accounts/user/"
    assert second.status_code == 302
    assert second["Location"] == f"{portal_log_in_url()}?next=/admin/accounts/user/"
    assert portal_log_in_url().rstrip("/") == "/accounts/log-in"


def test_anonymous_login_page_defaults_next_to_the_admin_index(client):
    response = client.get("/admin/login/")
    assert response.status_code == 302
    assert response["Location"] == f"{portal_log_in_url()}?next=/admin/"


def test_login_page_ignores_an_offsite_next(client):
    response = client.get("/admin/login/?next=https://evil.example/")
    assert response["Location"] == f"{portal_log_in_url()}?next=/admin/"


def test_affiliate_gets_403_without_admin_content(client):
    # given
    log_in(client, _affiliate())
    # when
    index = client.get("/admin/")
    users = client.get("/admin/accounts/user/")
    gate = client.get("/admin/login/")
    # then
    assert index.status_code == 302
    assert users.status_code == 302
    assert gate.status_code == 403
    html = gate.content.decode()
    assert "for KanGrow staff only" in html
    _no_admin_content(html)
    assert TOTPDevice.objects.count() == 0


def test_banned_staff_has_no_access_even_with_a_device(client):
    # given: a staff member with a confirmed device, then banned
    staff = _staff()
    _device(staff)
    log_in(client, staff)
    User.objects.filter(pk=staff.pk).update(banned=True)
    # when
    index = client.get("/admin/")
    gate = client.get("/admin/login/")
    # then: the session no longer loads, so the visitor is anonymous
    assert index.status_code == 302
    assert gate.status_code == 302
    assert gate["Location"] == f"{portal_log_in_url()}?next=/admin/"


def test_blocked_staff_has_no_access(client):
    staff = _staff()
    log_in(client, staff)
    User.objects.filter(pk=staff.pk).update(blocked=True)
    assert client.get("/admin/login/")["Location"] == f"{portal_log_in_url()}?next=/admin/"
    assert TOTPDevice.objects.count() == 0


def test_staff_without_a_device_gets_the_enrolment_page_and_no_admin_content(client):
    # given
    staff = _staff()
    log_in(client, staff)
    # when
    index = client.get("/admin/")
    users = client.get("/admin/accounts/user/")
    page = client.get("/admin/login/?next=/admin/")
    again = client.get("/admin/login/?next=/admin/")
    # then
    assert index.status_code == 302
    assert users.status_code == 302
    assert page.status_code == 200
    html = page.content.decode()
    _no_admin_content(html)
    device = TOTPDevice.objects.get(user=staff)
    assert device.confirmed is False
    secret = b32encode(device.bin_key).decode()
    assert '<div class="otp-qr" style="max-width:240px"><svg' in html
    assert " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)) in html
    assert "otpauth://totp/KanGrow%3Astaff%40example.com?secret=" + secret in html
    # the same pending device (same secret) on reload, no second row
    assert again.status_code == 200
    assert TOTPDevice.objects.filter(user=staff).count() == 1


def test_enrolment_with_a_wrong_code_shows_an_error_and_confirms_nothing(client):
    # given
    staff = _staff()
    log_in(client, staff)
    client.get("/admin/login/")
    device = TOTPDevice.objects.get(user=staff)
    # when
    response = client.post("/admin/login/", {"otp_token": wrong_code(device), "next": "/admin/"})
    # then
    assert response.status_code == 200
    assert "That code is not right." in response.content.decode()
    device.refresh_from_db()
    assert device.confirmed is False
    assert device.throttling_failure_count == 1
    assert client.get("/admin/").status_code == 302


def test_enrolment_with_a_malformed_code_asks_for_six_digits(client):
    staff = _staff()
    log_in(client, staff)
    client.get("/admin/login/")
    response = client.post("/admin/login/", {"otp_token": "12ab\x00", "next": "/admin/"})
    assert response.status_code == 200
    assert TOTPDevice.objects.get(user=staff).confirmed is False
    assert TOTPDevice.objects.get(user=staff).throttling_failure_count == 0
    response = client.post("/admin/login/", {"otp_token": "12345", "next": "/admin/"})
    assert "Enter the 6-digit code shown in your authenticator app." in response.content.decode()


def test_enrolment_with_the_right_code_confirms_the_device_and_opens_the_admin(client):
    # given
    staff = _staff()
    log_in(client, staff)
    client.get("/admin/login/")
    device = TOTPDevice.objects.get(user=staff)
    # when
    response = client.post(
        "/admin/login/", {"otp_token": current_code(device), "next": "/admin/accounts/user/"}
    )
    # then
    assert response.status_code == 302
    assert response["Location"] == "/admin/accounts/user/"
    device.refresh_from_db()
    assert device.confirmed is True
    assert client.get("/admin/").status_code == 200


def test_staff_with_a_device_not_verified_this_session_gets_the_verify_page(client):
    # given
    staff = _staff()
    _device(staff)
    log_in(client, staff)
    # when
    index = client.get("/admin/")
    page = client.get("/admin/login/")
    # then
    assert index.status_code == 302
    assert page.status_code == 200
    html = page.content.decode()
    assert "Enter the 6-digit code from your authenticator app" in html
    assert 'class="otp-qr"' not in html
    _no_admin_content(html)
    assert TOTPDevice.objects.filter(user=staff).count() == 1


def test_verify_with_a_wrong_code_then_throttles(client):
    # given
    staff = _staff()
    device = _device(staff)
    log_in(client, staff)
    # when: a wrong code, then the right one at once
    wrong = client.post("/admin/login/", {"otp_token": wrong_code(device)})
    right_too_soon = client.post("/admin/login/", {"otp_token": current_code(device)})
    # then
    assert "That code is not right." in wrong.content.decode()
    assert "Too many wrong codes. Wait 1 second and enter the current code." in (
        right_too_soon.content.decode()
    )
    device.refresh_from_db()
    assert device.throttling_failure_count == 1
    assert client.get("/admin/").status_code == 302


def test_verified_staff_reaches_the_index_and_the_users_list(client):
    # given
    staff = _staff()
    device = _device(staff)
    affiliate = _affiliate("affiliate@example.com")
    log_in(client, staff)
    # when
    verify = client.post("/admin/login/", {"otp_token": current_code(device)})
    index = client.get("/admin/")
    users = client.get("/admin/accounts/user/")
    totp_devices = client.get("/admin/otp_totp/totpdevice/")
    # then
    assert verify.status_code == 302
    assert verify["Location"] == "/admin/"
    assert index.status_code == 200
    assert "Apps, campaigns, affiliates and money" in index.content.decode()
    assert users.status_code == 200
    assert affiliate.email in users.content.decode()
    assert "hashed_password" not in users.content.decode()
    assert totp_devices.status_code == 200
    # the login page now sends a verified member straight on
    assert client.get("/admin/login/")["Location"] == "/admin/"


def test_verified_staff_user_change_page_shows_no_secrets(client):
    # given
    staff = _staff()
    device = _device(staff)
    affiliate = _affiliate()
    User.objects.filter(pk=affiliate.pk).update(reset_password_token="a" * 64)
    log_in(client, staff)
    client.post("/admin/login/", {"otp_token": current_code(device)})
    # when
    page = client.get(reverse("admin:accounts_user_change", args=[affiliate.pk]))
    # then
    html = page.content.decode()
    assert page.status_code == 200
    assert affiliate.email in html
    assert affiliate.password not in html
    assert "a" * 64 not in html
    assert 'name="password"' not in html


def test_admin_log_out_ends_the_session_token(client):
    # given
    staff = _staff()
    device = _device(staff)
    log_in(client, staff)
    client.post("/admin/login/", {"otp_token": current_code(device)})
    assert UserToken.objects.filter(user=staff, context="session").count() == 1
    # when
    response = client.post("/admin/logout/")
    # then
    assert response.status_code == 302
    assert UserToken.objects.filter(user=staff, context="session").count() == 0
    assert client.get("/admin/").status_code == 302


def test_createsuperuser_works_with_email_as_the_username(monkeypatch):
    # given
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a long enough demo password 1")
    # when
    call_command("createsuperuser", "--noinput", email="root@example.com", verbosity=0)
    # then
    user = User.objects.get(email="root@example.com")
    assert (user.is_staff, user.is_superuser, user.is_active) == (True, True, True)
    assert user.check_password("a long enough demo password 1")


def test_staff_can_reset_a_colleagues_device_without_seeing_its_secret(client):
    # given: a verified staff member and a colleague with a confirmed device
    staff = _staff()
    device = _device(staff)
    colleague = _staff("colleague@example.com")
    lost = _device(colleague)
    log_in(client, staff)
    client.post("/admin/login/", {"otp_token": current_code(device)})
    change_url = f"/admin/otp_totp/totpdevice/{lost.pk}/change/"
    # when
    page = client.get(change_url)
    deleted = client.post(f"/admin/otp_totp/totpdevice/{lost.pk}/delete/", {"post": "yes"})
    # then
    assert page.status_code == 200
    assert lost.key not in page.content.decode()
    assert deleted.status_code == 302
    assert list(TOTPDevice.objects.filter(user=colleague)) == []
    assert TOTPDevice.objects.filter(user=staff, confirmed=True).count() == 1


def test_colleague_with_a_reset_device_enrols_again(client):
    # given: the device was deleted by another staff member
    colleague = _staff("colleague@example.com")
    _device(colleague).delete()
    log_in(client, colleague)
    # when
    page = client.get("/admin/login/")
    # then
    assert 'class="otp-qr"' in page.content.decode()
    assert TOTPDevice.objects.get(user=colleague).confirmed is False


def test_verify_page_posts_are_csrf_protected(client):
    # given
    from django.test import Client

    staff = _staff()
    device = _device(staff)
    strict = Client(enforce_csrf_checks=True)
    log_in(strict, staff)
    # when
    response = strict.post("/admin/login/", {"otp_token": current_code(device)})
    # then
    assert response.status_code == 403
    device.refresh_from_db()
    assert device.last_t == -1
    assert strict.get("/admin/").status_code == 302


def test_whole_staff_journey_through_the_portal_log_in(client):
    # given: a staff member who never set up a second factor
    staff = _staff()
    # when: /admin sends them to the portal log-in, which sends them back
    to_gate = client.get("/admin/")
    to_portal = client.get(to_gate["Location"])
    login_page = client.get(to_portal["Location"])
    logged_in = client.post(
        portal_log_in_url(),
        {
            "email": "staff@example.com",
            "password": "correct horse battery staple",
            "next": "/admin/",
        },
    )
    back = client.get(logged_in["Location"])
    enrol_page = client.get(back["Location"])
    device = TOTPDevice.objects.get(user=staff)
    confirmed = client.post("/admin/login/", {"otp_token": current_code(device), "next": "/admin/"})
    index = client.get(confirmed["Location"])
    # then
    assert login_page.status_code == 200
    assert logged_in.status_code == 302
    assert logged_in["Location"] == "/admin/"
    assert back.status_code == 302
    assert back["Location"] == "/admin/login/?next=/admin/"
    assert 'class="otp-qr"' in enrol_page.content.decode()
    assert confirmed["Location"] == "/admin/"
    assert index.status_code == 200
    assert "Apps, campaigns, affiliates and money" in index.content.decode()
