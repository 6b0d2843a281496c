"""Test helpers for the accounts flows (also used by kangrow/web/tests/test_accounts_*.py)."""

from __future__ import annotations

import re

from django.core import mail

from kangrow.accounts import api
from kangrow.accounts.models import User

PASSWORD = "correct horse battery staple"


def make_user(
    email: str = "jane@example.com",
    *,
    password: str = PASSWORD,
    verified: bool = True,
    approved: bool = True,
    **flags: object,
) -> User:
    """A user built through the context's api (verified/approved as asked), then any flags."""
    user, _ = api.upsert_affiliate(
        email=email, password=password, verified=verified, approved=approved
    )
    if flags:
        User.objects.filter(pk=user.pk).update(**flags)
        user.refresh_from_db()
    return user


def link_path(message: mail.EmailMessage) -> str:
    """The path of the single KanGrow link in an email (absolute in the email itself)."""
    urls = set(re.findall(r"https?://[^\s\"<>]+", message.body))
    assert len(urls) == 1, urls
    url = urls.pop()
    return "/" + url.split("/", 3)[3]


def token_of(message: mail.EmailMessage) -> str:
    return link_path(message).rstrip("/").rsplit("/", 1)[1]
