"""The header's unread-notification count, on every page, computed only when a template uses it
(one COUNT query) and only for a logged-in user."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from kangrow.notifications import api as notifications_api


def notifications(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    user_id = user.pk
    return {
        "unread_notifications": SimpleLazyObject(
            lambda: notifications_api.count_unread(user_id=user_id)
        )
    }
