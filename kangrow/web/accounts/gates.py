"""Access gates for portal pages. Other pages import these decorators:

- `login_required_page`: anonymous visitors go to the log-in page (with ?next=).
- `approved_affiliate_required`: also requires a confirmed email and admin approval; otherwise
  the waiting page.
- `sudo_required`: the session authenticated within the last 15 minutes; otherwise log in again.
"""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from kangrow.accounts import api
from kangrow.accounts.middleware import current_token


def _to_login(request: HttpRequest, **extra: str) -> HttpResponseRedirect:
    query = urlencode({"next": request.get_full_path(), **extra})
    return HttpResponseRedirect(f"{reverse('accounts:log_in')}?{query}")


def is_approved_affiliate(user) -> bool:  # type: ignore[no-untyped-def]
    return bool(
        user.is_authenticated and user.email_verified and user.verified and user.approved_affiliate
    )


def login_required_page(view):  # type: ignore[no-untyped-def]
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:  # type: ignore[no-untyped-def]
        if not request.user.is_authenticated:
            messages.error(request, "You must log in to access this page.")
            return _to_login(request)
        return view(request, *args, **kwargs)

    return wrapper


def approved_affiliate_required(view):  # type: ignore[no-untyped-def]
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:  # type: ignore[no-untyped-def]
        if not request.user.is_authenticated:
            messages.error(request, "You must log in to access this page.")
            return _to_login(request)
        if not is_approved_affiliate(request.user):
            return HttpResponseRedirect(reverse("accounts:waiting"))
        return view(request, *args, **kwargs)

    return wrapper


def sudo_required(view):  # type: ignore[no-untyped-def]
    """Must sit inside login_required_page (or another gate that ensures a logged-in user)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:  # type: ignore[no-untyped-def]
        if not api.is_sudo_mode(token_row=current_token(request)):
            messages.error(request, "You need to re-authenticate to access this page.")
            return _to_login(request, reauth="1")
        return view(request, *args, **kwargs)

    return wrapper
