"""manage.py demo: the staff superuser, each context's demo data, idempotent, with instructions."""

from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command

from kangrow.accounts.models import User
from kangrow.core.erd import is_kangrow_model
from kangrow.web.management.commands.demo import STAFF_EMAIL, STAFF_PASSWORD

pytestmark = pytest.mark.django_db


def _run() -> str:
    out = StringIO()
    call_command("demo", stdout=out)
    return out.getvalue()


def _row_counts() -> dict[str, int]:
    return {
        m._meta.label: m._default_manager.count() for m in apps.get_models() if is_kangrow_model(m)
    }


def test_demo_creates_the_staff_superuser_and_prints_how_to_enrol():
    # when
    output = _run()
    # then
    staff = User.objects.get(email=STAFF_EMAIL)
    assert (staff.is_staff, staff.is_superuser, staff.is_active) == (True, True, True)
    assert (staff.email_verified, staff.verified) == (True, True)
    assert staff.check_password(STAFF_PASSWORD)
    logins = output.split("Demo logins:")[-1]
    assert f"Staff (admin): {STAFF_EMAIL} / {STAFF_PASSWORD}" in logins
    assert "Approved affiliate: affiliate@kangrow.local / kangrow-demo-pass" in logins
    affiliate = User.objects.get(email="affiliate@kangrow.local")
    assert affiliate.approved_affiliate and affiliate.check_password("kangrow-demo-pass")
    assert "/accounts/log-in" in output
    assert "Scan the QR code with an authenticator app" in output


def test_demo_loads_the_affiliates_of_the_accounts_demo():
    from kangrow.accounts import demo as accounts_demo

    output = _run()
    approved = User.objects.get(email=accounts_demo.APPROVED_EMAIL)
    assert approved.approved_affiliate is True
    assert approved.check_password(accounts_demo.DEMO_PASSWORD)
    assert accounts_demo.APPROVED_EMAIL in output


def test_demo_twice_adds_nothing():
    # given
    _run()
    first = _row_counts()
    # when
    output = _run()
    # then
    assert _row_counts() == first
    assert f"Updated staff user {STAFF_EMAIL}." in output


def test_demo_repairs_a_banned_or_demoted_staff_user():
    # given
    _run()
    User.objects.filter(email=STAFF_EMAIL).update(banned=True, is_staff=False, is_superuser=False)
    staff = User.objects.get(email=STAFF_EMAIL)
    staff.set_password("something else entirely")
    staff.save()
    # when
    _run()
    # then
    staff = User.objects.get(email=STAFF_EMAIL)
    assert (staff.banned, staff.is_staff, staff.is_superuser) == (False, True, True)
    assert staff.check_password(STAFF_PASSWORD)
    assert User.objects.filter(email=STAFF_EMAIL).count() == 1


def test_demo_can_reset_the_staff_second_factor():
    # given
    from django_otp.plugins.otp_totp.models import TOTPDevice

    _run()
    staff = User.objects.get(email=STAFF_EMAIL)
    TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    other = User.objects.create_superuser("other@example.com", "correct horse battery staple")
    TOTPDevice.objects.create(user=other, name="phone", confirmed=True)
    # when
    out = StringIO()
    call_command("demo", "--reset-second-factor", stdout=out)
    # then
    assert TOTPDevice.objects.filter(user=staff).count() == 0
    assert TOTPDevice.objects.filter(user=other).count() == 1
    assert f"Removed 1 second-factor device(s) of {STAFF_EMAIL}." in out.getvalue()
