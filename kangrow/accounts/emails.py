"""Account emails: HTML + plain text rendered from kangrow/templates/emails/, sent on commit."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string

log = logging.getLogger(__name__)


def build_message(
    *, to: str, template: str, subject: str, context: dict[str, Any]
) -> EmailMultiAlternatives:
    ctx = {"base_url": settings.KANGROW_BASE_URL.rstrip("/"), "subject": subject, **context}
    text = render_to_string(f"emails/{template}.txt", ctx)
    html = render_to_string(f"emails/{template}.html", ctx)
    message = EmailMultiAlternatives(
        subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[to]
    )
    message.attach_alternative(html, "text/html")
    return message


def send_on_commit(*, to: str, template: str, subject: str, context: dict[str, Any]) -> None:
    """Render now (inside the caller's transaction), send once the transaction commits."""
    message = build_message(to=to, template=template, subject=subject, context=context)

    def _send() -> None:
        try:
            message.send()
        except Exception:  # a mail outage must not turn a committed action into a 500
            log.exception("sending the %s email failed", template)

    transaction.on_commit(_send)
