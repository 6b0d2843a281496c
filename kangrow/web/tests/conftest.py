"""Fixtures shared by the web layer's tests."""

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from kangrow.accounts.models import User
from kangrow.web.admin.testing import current_code, log_in


@pytest.fixture
def staff_client(db, client):
    """A client logged in as a superuser who has passed the admin's second factor
    (`client.staff` is that user)."""
    staff = User.objects.create_superuser("staff@example.com", "correct horse battery staple")
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    log_in(client, staff)
    assert client.post("/admin/login/", {"otp_token": current_code(device)}).status_code == 302
    client.staff = staff
    return client
