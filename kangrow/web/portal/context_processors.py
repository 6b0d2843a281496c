"""The onboarding progress bar on every page: computed only when a template uses it, at most
once per request, and only for a logged-in affiliate (staff never see it)."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from kangrow.onboarding import api as onboarding_api

_ATTR = "_kangrow_onboarding_checklist"


def checklist_for(request: HttpRequest, *, fresh: bool = False) -> onboarding_api.Checklist:
    """The request's checklist, memoised on the request (fresh=True after a write)."""
    cached = getattr(request, _ATTR, None)
    if cached is None or fresh:
        cached = onboarding_api.get_checklist(user=request.user)
        setattr(request, _ATTR, cached)
    return cached


def onboarding(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or user.is_staff:
        return {}
    return {"onboarding": SimpleLazyObject(lambda: checklist_for(request))}
