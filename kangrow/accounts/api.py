"""The accounts context's public API (a port of Phoenix 1.8 phx.gen.auth's `Accounts`).

Other contexts and the web layer call only these functions. Every token handed to a person is
random; the database keeps its SHA-256 digest and lookups compare digests.
"""

from __future__ import annotations

import base64
from datetime import timedelta

from django.utils import timezone

from . import tokens
from .models import User, UserToken

SESSION_VALIDITY = timedelta(days=14)
SESSION_CONTEXT = "session"


def generate_user_session_token(*, user: User) -> str:
    """Create a session token row and return the raw token for the cookie/session."""
    raw = tokens.new_raw_token()
    UserToken.objects.create(
        user=user,
        token=tokens.digest(raw),
        context=SESSION_CONTEXT,
        authenticated_at=timezone.now(),
    )
    return raw


def get_user_by_session_token(*, token: str) -> tuple[User, UserToken] | None:
    """The live user behind a session token, or None (expired, unknown, banned, deleted)."""
    if not token:
        return None
    row = (
        UserToken.objects.select_related("user")
        .filter(
            token=tokens.digest(token),
            context=SESSION_CONTEXT,
            created_at__gt=timezone.now() - SESSION_VALIDITY,
        )
        .first()
    )
    if row is None or not row.user.is_active:
        return None
    return row.user, row


def delete_user_session_token(*, token: str) -> None:
    UserToken.objects.filter(token=tokens.digest(token), context=SESSION_CONTEXT).delete()


def encode_token(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode()
