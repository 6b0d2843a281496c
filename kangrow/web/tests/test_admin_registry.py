"""Every KanGrow table is reachable in /admin, and every registered page renders for staff."""

import pytest
from django.apps import apps
from django.contrib import admin
from django_otp.plugins.otp_totp.models import TOTPDevice

from kangrow.accounts.models import User
from kangrow.core.erd import is_kangrow_model
from kangrow.web.admin.site import KanGrowAdminSite, admin_site
from kangrow.web.admin.testing import current_code, log_in


def test_the_default_admin_site_is_the_secured_one():
    assert admin_site is admin.site
    assert isinstance(admin.site, KanGrowAdminSite)


def test_every_kangrow_model_is_registered():
    missing = sorted(
        m._meta.label
        for m in apps.get_models()
        if is_kangrow_model(m) and not admin_site.is_registered(m)
    )
    assert missing == []


def test_totp_devices_are_registered_for_resets():
    assert admin_site.is_registered(TOTPDevice)


@pytest.mark.django_db
def test_every_changelist_and_add_page_renders_for_verified_staff(client):
    # given
    staff = User.objects.create_superuser("staff@example.com", "correct horse battery staple")
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    log_in(client, staff)
    client.post("/admin/login/", {"otp_token": current_code(device)})
    failures = []
    # when
    for model, model_admin in admin_site._registry.items():
        meta = model._meta
        base = f"/admin/{meta.app_label}/{meta.model_name}/"
        changelist = client.get(base)
        if changelist.status_code != 200:
            failures.append((base, changelist.status_code))
        add = client.get(f"{base}add/")
        expected = 200 if model_admin.has_add_permission(changelist.wsgi_request) else 403
        if add.status_code != expected:
            failures.append((f"{base}add/", add.status_code))
    # then
    assert failures == []
