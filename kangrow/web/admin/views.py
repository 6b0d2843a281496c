"""The admin's second-factor pages (django-otp TOTP): enrol a device, or verify a code.

Reached through `KanGrowAdminSite.login` once the visitor is known to be active staff. Wrong
codes get a clear message; django-otp's throttling (1, 2, 4, 8… seconds after each failure)
limits guessing. Neither page shows any admin content.
"""

from __future__ import annotations

import math
from base64 import b32encode
from typing import TYPE_CHECKING

import django_otp
import qrcode
import qrcode.image.svg
from django import forms
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django_otp.plugins.otp_totp.models import TOTPDevice

from kangrow.core.text import reject_nul

if TYPE_CHECKING:
    from .site import KanGrowAdminSite

DEVICE_NAME = "Authenticator app"
WRONG_CODE = (
    "That code is not right. Enter the current code from your authenticator app "
    "(check that the phone's clock is set automatically)."
)


class OTPCodeForm(forms.Form):
    otp_token = forms.CharField(
        label="Code from your authenticator app",
        max_length=20,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )

    def __init__(self, *args: object, digits: int = 6, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.digits = digits

    def clean_otp_token(self) -> str:
        value = self.cleaned_data["otp_token"]
        reject_nul(value)
        value = value.replace(" ", "").replace("-", "")
        if not (value.isascii() and value.isdigit() and len(value) == self.digits):
            raise ValidationError(
                f"Enter the {self.digits}-digit code shown in your authenticator app."
            )
        return value


def throttled_message(device: TOTPDevice) -> str | None:
    """A message when django-otp refuses to check a code right now, else None."""
    allowed, info = device.verify_is_allowed()
    if allowed:
        return None
    locked_until = (info or {}).get("locked_until")
    seconds = 1
    if locked_until is not None:
        seconds = max(1, math.ceil((locked_until - timezone.now()).total_seconds()))
    return (
        f"Too many wrong codes. Wait {seconds} second{'s' if seconds != 1 else ''} "
        "and enter the current code."
    )


def qr_svg(data: str) -> str:
    """The QR code of `data` as an inline <svg> element (rendered here, no image request)."""
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    return image.to_string(encoding="unicode")


def second_factor(site: KanGrowAdminSite, request: HttpRequest) -> HttpResponse:
    user = request.user
    device = (
        TOTPDevice.objects.devices_for_user(user, confirmed=True)  # type: ignore[arg-type]
        .order_by("id")
        .first()
    )
    if device is None:
        return enrol(site, request)
    return verify(site, request, device)


def _check_code(request: HttpRequest, form: OTPCodeForm, device: TOTPDevice) -> bool:
    """Check the form's code on `device` (throttled by django-otp); add the error on failure."""
    message = throttled_message(device)
    if message:
        form.add_error("otp_token", message)
        return False
    verified = django_otp.verify_token(
        request.user, device.persistent_id, form.cleaned_data["otp_token"]
    )
    if verified is None:
        form.add_error("otp_token", WRONG_CODE)
        return False
    return True


def verify(site: KanGrowAdminSite, request: HttpRequest, device: TOTPDevice) -> HttpResponse:
    form = OTPCodeForm(request.POST or None, digits=device.digits)
    if request.method == "POST" and form.is_valid() and _check_code(request, form, device):
        device.refresh_from_db()
        request.session.cycle_key()  # privilege goes up: a new session id
        django_otp.login(request, device)
        return HttpResponseRedirect(site.safe_next_url(request))
    return TemplateResponse(
        request,
        "otp/verify.html",
        site.gate_context(request, title="Second factor", form=form),
    )


def _pending_device(user: object) -> TOTPDevice:
    """The user's unconfirmed device (one secret across reloads), created on first visit."""
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=user, confirmed=False)
            .order_by("id")
            .first()
        )
        if device is None:
            device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


def enrol(site: KanGrowAdminSite, request: HttpRequest) -> HttpResponse:
    device = _pending_device(request.user)
    form = OTPCodeForm(request.POST or None, digits=device.digits)
    if request.method == "POST" and form.is_valid() and _check_code(request, form, device):
        with transaction.atomic():
            TOTPDevice.objects.filter(pk=device.pk).update(confirmed=True)
        device.refresh_from_db()
        request.session.cycle_key()  # privilege goes up: a new session id
        django_otp.login(request, device)
        return HttpResponseRedirect(site.safe_next_url(request))
    config_url = device.config_url
    secret = b32encode(device.bin_key).decode().rstrip("=")
    context = site.gate_context(
        request,
        title="Set up your second factor",
        form=form,
        qr_svg=mark_safe(qr_svg(config_url)),  # noqa: S308 - SVG paths we generated
        otpauth_uri=config_url,
        secret=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
    )
    return TemplateResponse(request, "otp/enrol.html", context)
