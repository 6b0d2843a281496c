"""Test helpers for the admin: log a user in through a real session token, compute TOTP codes.

Used by the tests only (nothing in the running site imports this module).
"""

from __future__ import annotations

from django.conf import settings
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from kangrow.accounts import api as accounts_api
from kangrow.accounts.middleware import SESSION_KEY


def log_in(client: Client, user: object) -> str:
    """Give `client` a live users_tokens session for `user`, as the portal's log-in does."""
    raw = accounts_api.generate_user_session_token(user=user)  # type: ignore[arg-type]
    session = client.session
    session[SESSION_KEY] = raw
    session.save()
    # Signed-cookie sessions: the cookie *is* the data, so hand the new value to the client.
    client.cookies[settings.SESSION_COOKIE_NAME] = session.session_key
    return raw


def current_code(device: TOTPDevice) -> str:
    """The code an authenticator app shows right now for `device`."""
    device.refresh_from_db()
    value = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    return str(value).zfill(device.digits)


def wrong_code(device: TOTPDevice) -> str:
    """A well-formed code that is none of the codes the device accepts now."""
    device.refresh_from_db()
    accepted = {
        str(totp(device.bin_key, device.step, device.t0, device.digits, drift)).zfill(device.digits)
        for drift in range(-device.tolerance - 1, device.tolerance + 2)
    }
    candidate = 0
    while str(candidate).zfill(device.digits) in accepted:
        candidate += 1
    return str(candidate).zfill(device.digits)
