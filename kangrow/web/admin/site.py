"""KanGrow's AdminSite: active staff with a verified TOTP second factor, nobody else.

Mounted at /admin/. `KanGrowAdminConfig` (kangrow.web.admin.apps) makes this class Django's
default site, so `admin_site` below *is* `django.contrib.admin.site`:

* ModelAdmins register with `@admin.register(Model, site=admin_site)`; in a context's own
  `admin.py` the plain `@admin.register(Model)` is the same site and keeps contexts from
  importing the web layer (the import-linter contract forbids that).
* django-otp's TOTPDevice admin registers itself here, so staff can reset a colleague's device
  (delete it: the colleague enrols a new one at the next visit).

Who sees what (the admin's "login" view dispatches on the visitor's state):

* anonymous (or banned, blocked, deleted: their session no longer loads): redirect to the
  portal log-in, with `?next=` back here;
* logged in but not active staff: a 403 page without admin content;
* staff without a confirmed TOTP device: the enrolment page (QR code as inline SVG, the
  secret in text, confirm with a code);
* staff with a device, not verified in this session: the verify page (6-digit code);
* staff verified: the admin.

Authentication is KanGrow's users_tokens session (kangrow.accounts.middleware), not Django's:
the portal logs people in and out; the admin's own log-out ends the session token as well.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin import AdminSite
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth import logout as django_logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_POST

PORTAL_LOG_IN_URL_NAME = "accounts:log_in"
PORTAL_LOG_IN_FALLBACK = "/accounts/log-in"


def portal_log_in_url() -> str:
    try:
        return reverse(PORTAL_LOG_IN_URL_NAME)
    except NoReverseMatch:
        return PORTAL_LOG_IN_FALLBACK


def is_staff_member(user: object) -> bool:
    """Logged in, active (not banned, blocked or deleted) and staff."""
    return bool(
        getattr(user, "is_authenticated", False)
        and getattr(user, "is_active", False)
        and getattr(user, "is_staff", False)
    )


def is_otp_verified(user: object) -> bool:
    is_verified = getattr(user, "is_verified", None)
    return bool(callable(is_verified) and is_verified())


class KanGrowAdminSite(AdminSite):
    site_header = "KanGrow administration"
    site_title = "KanGrow admin"
    index_title = "Apps, campaigns, affiliates and money"
    site_url = "/"

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return is_staff_member(user) and is_otp_verified(user)

    def safe_next_url(self, request: HttpRequest) -> str:
        candidate = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME)
        if (
            candidate
            and "\x00" not in candidate
            and url_has_allowed_host_and_scheme(
                candidate,
                allowed_hosts={request.get_host()},
                require_https=request.is_secure(),
            )
        ):
            return candidate
        return reverse("admin:index", current_app=self.name)

    def gate_context(self, request: HttpRequest, **extra: object) -> dict[str, object]:
        """Context for the pages shown before access: the site's names, never its content."""
        return {
            "site_title": self.site_title,
            "site_header": self.site_header,
            "site_url": self.site_url,
            "has_permission": False,
            "available_apps": [],
            "is_nav_sidebar_enabled": False,
            "is_popup": False,
            REDIRECT_FIELD_NAME: self.safe_next_url(request),
            **extra,
        }

    @method_decorator(never_cache)
    @method_decorator(csrf_protect)
    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        from . import views  # models are loaded by now

        user = request.user
        next_url = self.safe_next_url(request)
        if not getattr(user, "is_authenticated", False):
            return redirect_to_login(next_url, login_url=portal_log_in_url())
        if not is_staff_member(user):
            return TemplateResponse(
                request,
                "admin/kangrow_forbidden.html",
                self.gate_context(request, title="Staff only"),
                status=403,
            )
        if is_otp_verified(user):
            return HttpResponseRedirect(next_url)
        return views.second_factor(self, request)

    @method_decorator(never_cache)
    @method_decorator(csrf_protect)
    @method_decorator(require_POST)
    def logout(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        """End the users_tokens session (not just Django's session), then go to the portal."""
        from kangrow.accounts import api as accounts_api
        from kangrow.accounts.middleware import REMEMBER_ME_COOKIE, SESSION_KEY

        token = request.session.get(SESSION_KEY)
        if token:
            accounts_api.delete_user_session_token(token=token)
        django_logout(request)
        response = HttpResponseRedirect(portal_log_in_url())
        response.delete_cookie(REMEMBER_ME_COOKIE, samesite="Lax")
        return response

    def password_change(self, request: HttpRequest, extra_context: dict | None = None):  # type: ignore[no-untyped-def]
        """Passwords change in the portal's settings (sudo mode, other sessions end there)."""
        return HttpResponseRedirect(_portal_settings_url())

    def password_change_done(self, request: HttpRequest, extra_context: dict | None = None):  # type: ignore[no-untyped-def]
        return HttpResponseRedirect(_portal_settings_url())


def _portal_settings_url() -> str:
    try:
        return reverse("accounts:settings")
    except NoReverseMatch:
        return "/accounts/settings"


admin_site: AdminSite = admin.site
"""The one admin site (`django.contrib.admin.site`, an instance of KanGrowAdminSite)."""
