"""Account pages (the phx.gen.auth controllers): parse input, call one accounts.api function,
render. Every failure is a form error or a flash message; nothing here raises a 500."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms import Form
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.middleware.csrf import rotate_token
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kangrow.accounts import api
from kangrow.accounts.middleware import (
    REMEMBER_ME_COOKIE,
    REMEMBER_ME_MAX_AGE,
    REMEMBER_ME_SALT,
    SESSION_KEY,
    current_token,
)

from .forms import (
    ChangeEmailForm,
    EmailOnlyForm,
    LogInForm,
    MagicLinkForm,
    NewPasswordForm,
    ProfileForm,
    RegistrationForm,
)
from .gates import is_approved_affiliate, login_required_page

INVALID_LOGIN = "Invalid email or password"
IF_IN_SYSTEM = "If your email is in our system, you will receive instructions shortly."
RATE_LIMITED = "Too many requests. Please wait a few minutes before trying again."
INVALID_MAGIC_LINK = "Magic link is invalid or it has expired."
INVALID_CONFIRM_LINK = "Confirmation link is invalid or it has expired."
INVALID_RESET_LINK = "Reset password link is invalid or it has expired."
INVALID_CHANGE_LINK = "Email change link is invalid or it has expired."


# --------------------------------------------------------------------------- helpers


def _ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _safe_next(request: HttpRequest, value: str | None) -> str | None:
    if (
        value
        and "\x00" not in value
        and value.startswith("/")
        and url_has_allowed_host_and_scheme(
            value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        return value
    return None


def _home_for(user) -> str:  # type: ignore[no-untyped-def]
    return (
        reverse("accounts:dashboard")
        if is_approved_affiliate(user)
        else reverse("accounts:waiting")
    )


def _add_errors(form: Form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _start_session(request: HttpRequest, response: HttpResponse, login, remember: bool) -> None:  # type: ignore[no-untyped-def]
    """Put the new session token in a fresh session (no fixation) and the remember-me cookie."""
    previous = request.session.get(SESSION_KEY)
    current = request.user if request.user.is_authenticated else None
    if previous:
        api.delete_user_session_token(token=previous)
    if current is not None and current.pk == login.user.pk:
        request.session.cycle_key()
    else:
        request.session.flush()
    request.session[SESSION_KEY] = login.session_token
    rotate_token(request)
    if remember:
        response.set_signed_cookie(
            REMEMBER_ME_COOKIE,
            login.session_token,
            salt=REMEMBER_ME_SALT,
            max_age=REMEMBER_ME_MAX_AGE,
            httponly=True,
            samesite="Lax",
            secure=settings.SESSION_COOKIE_SECURE,
        )
    else:
        response.delete_cookie(REMEMBER_ME_COOKIE, samesite="Lax")


def _end_session(request: HttpRequest, response: HttpResponse) -> None:
    request.session.flush()
    response.delete_cookie(REMEMBER_ME_COOKIE, samesite="Lax")


# --------------------------------------------------------------------------- landing


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return HttpResponseRedirect(_home_for(request.user))
    return render(request, "accounts/home.html")


# --------------------------------------------------------------------------- registration


@never_cache
@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return HttpResponseRedirect(_home_for(request.user))
    form = RegistrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            login = api.register_user(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                ip=_ip(request),
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            response = HttpResponseRedirect(reverse("accounts:waiting"))
            _start_session(request, response, login, remember=False)
            messages.success(
                request,
                f"Account created. We sent a confirmation link to {login.user.email}.",
            )
            return response
    status = 422 if form.is_bound else 200
    return render(request, "accounts/register.html", {"form": form}, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button (mail scanners that follow links do not consume it); POST confirms."""
    if request.method == "POST":
        user = api.confirm_user(token=token)
        if user is None:
            messages.error(request, INVALID_CONFIRM_LINK)
            return HttpResponseRedirect(reverse("accounts:home"))
        messages.success(request, "Your email is confirmed.")
        if request.user.is_authenticated and request.user.pk == user.pk:
            return HttpResponseRedirect(reverse("accounts:waiting"))
        if request.user.is_authenticated:
            return HttpResponseRedirect(reverse("accounts:home"))
        return HttpResponseRedirect(reverse("accounts:log_in"))
    user = api.get_user_by_confirm_token(token=token)
    if user is None:
        messages.error(request, INVALID_CONFIRM_LINK)
        return HttpResponseRedirect(reverse("accounts:home"))
    return render(request, "accounts/confirm.html", {"email": user.email})


# --------------------------------------------------------------------------- log in / out


def _log_in_page(request: HttpRequest, form: LogInForm, link_form: MagicLinkForm, status: int):  # type: ignore[no-untyped-def]
    reauth = request.user.is_authenticated
    return render(
        request,
        "accounts/log_in.html",
        {
            "form": form,
            "link_form": link_form,
            "next": _safe_next(request, request.POST.get("next") or request.GET.get("next")),
            "reauth": reauth,
        },
        status=status,
    )


@never_cache
@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def log_in(request: HttpRequest) -> HttpResponse:
    initial = {"email": request.user.email} if request.user.is_authenticated else None
    if request.method == "GET":
        return _log_in_page(
            request, LogInForm(initial=initial), MagicLinkForm(initial=initial), 200
        )
    form = LogInForm(request.POST)
    if form.is_valid():
        login = api.log_in_with_password(
            request=request,
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password"],
        )
        if login is not None:
            target = _safe_next(request, request.POST.get("next")) or _home_for(login.user)
            response = HttpResponseRedirect(target)
            _start_session(request, response, login, remember=form.cleaned_data["remember_me"])
            messages.success(request, "Welcome back!")
            return response
    form = LogInForm(initial={"email": request.POST.get("email", "")[:160].replace("\x00", "")})
    form.fields["email"].initial = form.initial["email"]
    messages.error(request, INVALID_LOGIN)
    return _log_in_page(request, form, MagicLinkForm(initial=initial), 422)


@never_cache
@require_POST
def request_magic_link(request: HttpRequest) -> HttpResponse:
    form = MagicLinkForm(request.POST)
    if not form.is_valid():
        return _log_in_page(request, LogInForm(), form, 422)
    outcome = api.request_magic_link(email=form.cleaned_data["email"], ip=_ip(request))
    if outcome is api.RequestOutcome.RATE_LIMITED:
        messages.error(request, RATE_LIMITED)
        return _log_in_page(request, LogInForm(), form, 429)
    messages.info(request, IF_IN_SYSTEM)
    return HttpResponseRedirect(reverse("accounts:log_in"))


@never_cache
@require_http_methods(["GET", "POST"])
def magic_link(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows "log in as …" (link scanners do not consume the link); POST logs in."""
    if request.method == "POST":
        login = api.log_in_with_magic_link(token=token, ip=_ip(request))
        if login is None:
            messages.error(request, INVALID_MAGIC_LINK)
            return HttpResponseRedirect(reverse("accounts:log_in"))
        response = HttpResponseRedirect(_home_for(login.user))
        _start_session(request, response, login, remember=request.POST.get("remember_me") == "1")
        if login.confirmed_now:
            messages.success(request, "Your email is confirmed. Welcome!")
        else:
            messages.success(request, "Welcome back!")
        return response
    user = api.get_user_by_magic_link_token(token=token)
    if user is None:
        messages.error(request, INVALID_MAGIC_LINK)
        return HttpResponseRedirect(reverse("accounts:log_in"))
    return render(request, "accounts/magic_link.html", {"email": user.email})


@require_POST
def log_out(request: HttpRequest) -> HttpResponse:
    token = request.session.get(SESSION_KEY) or request.get_signed_cookie(
        REMEMBER_ME_COOKIE, default=None, salt=REMEMBER_ME_SALT, max_age=REMEMBER_ME_MAX_AGE
    )
    if token:
        api.delete_user_session_token(token=token)
    response = HttpResponseRedirect(reverse("accounts:home"))
    _end_session(request, response)
    messages.info(request, "Logged out successfully.")
    return response


@require_POST
@login_required_page
def log_out_everywhere(request: HttpRequest) -> HttpResponse:
    api.log_out_everywhere(user_id=request.user.pk)
    response = HttpResponseRedirect(reverse("accounts:home"))
    _end_session(request, response)
    messages.info(request, "Logged out on every device.")
    return response


# --------------------------------------------------------------------------- password reset


@never_cache
@require_http_methods(["GET", "POST"])
def reset_password_request(request: HttpRequest) -> HttpResponse:
    form = EmailOnlyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        outcome = api.request_password_reset(email=form.cleaned_data["email"], ip=_ip(request))
        if outcome is api.RequestOutcome.RATE_LIMITED:
            messages.error(request, RATE_LIMITED)
            return render(
                request, "accounts/reset_password_request.html", {"form": form}, status=429
            )
        messages.info(request, IF_IN_SYSTEM)
        return HttpResponseRedirect(reverse("accounts:log_in"))
    status = 422 if form.is_bound else 200
    return render(request, "accounts/reset_password_request.html", {"form": form}, status=status)


@never_cache
@sensitive_post_parameters("password", "password_confirmation")
@require_http_methods(["GET", "POST"])
def reset_password(request: HttpRequest, token: str) -> HttpResponse:
    if api.get_user_by_reset_password_token(token=token) is None:
        messages.error(request, INVALID_RESET_LINK)
        return HttpResponseRedirect(reverse("accounts:reset_password_request"))
    form = NewPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = api.reset_password(
                token=token,
                password=form.cleaned_data["password"],
                password_confirmation=form.cleaned_data["password_confirmation"],
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            if user is None:
                messages.error(request, INVALID_RESET_LINK)
                return HttpResponseRedirect(reverse("accounts:reset_password_request"))
            response = HttpResponseRedirect(reverse("accounts:log_in"))
            _end_session(request, response)
            messages.success(request, "Password reset successfully. Please log in.")
            return response
    status = 422 if form.is_bound else 200
    return render(request, "accounts/reset_password.html", {"form": form}, status=status)


# --------------------------------------------------------------------------- settings


def _settings_page(request: HttpRequest, status: int = 200, **forms: Form) -> HttpResponse:
    user = request.user
    context = {
        "email_form": forms.get("email_form") or ChangeEmailForm(),
        "password_form": forms.get("password_form") or NewPasswordForm(),
        "profile_form": forms.get("profile_form")
        or ProfileForm(
            initial={
                "first_name": user.first_name or "",
                "last_name": user.last_name or "",
                "avatar_url": user.avatar_url or "",
            }
        ),
        "sudo": api.is_sudo_mode(token_row=current_token(request)),
        "reauth_url": f"{reverse('accounts:log_in')}?next={reverse('accounts:settings')}",
    }
    return render(request, "accounts/settings.html", context, status=status)


def _needs_sudo(request: HttpRequest) -> HttpResponse | None:
    if api.is_sudo_mode(token_row=current_token(request)):
        return None
    messages.error(request, "You need to re-authenticate to change your email or password.")
    return HttpResponseRedirect(
        f"{reverse('accounts:log_in')}?next={reverse('accounts:settings')}&reauth=1"
    )


@never_cache
@require_GET
@login_required_page
def settings_page(request: HttpRequest) -> HttpResponse:
    return _settings_page(request)


@never_cache
@require_POST
@login_required_page
def change_email(request: HttpRequest) -> HttpResponse:
    if (redirect := _needs_sudo(request)) is not None:
        return redirect
    form = ChangeEmailForm(request.POST)
    if form.is_valid():
        try:
            api.request_email_change(user=request.user, new_email=form.cleaned_data["email"])
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.info(
                request, "A link to confirm your email change has been sent to the new address."
            )
            return HttpResponseRedirect(reverse("accounts:settings"))
    return _settings_page(request, 422, email_form=form)


@never_cache
@sensitive_post_parameters("password", "password_confirmation")
@require_POST
@login_required_page
def change_password(request: HttpRequest) -> HttpResponse:
    if (redirect := _needs_sudo(request)) is not None:
        return redirect
    form = NewPasswordForm(request.POST)
    if form.is_valid():
        token_row = current_token(request)
        try:
            api.change_password(
                user=request.user,
                current_token_id=token_row.pk if token_row else None,
                password=form.cleaned_data["password"],
                password_confirmation=form.cleaned_data["password_confirmation"],
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, "Password updated. Your other sessions have been logged out.")
            return HttpResponseRedirect(reverse("accounts:settings"))
    return _settings_page(request, 422, password_form=form)


@never_cache
@require_POST
@login_required_page
def update_profile(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST)
    if form.is_valid():
        try:
            api.update_profile(
                user=request.user,
                first_name=form.cleaned_data["first_name"],
                last_name=form.cleaned_data["last_name"],
                avatar_url=form.cleaned_data["avatar_url"],
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, "Profile updated.")
            return HttpResponseRedirect(reverse("accounts:settings"))
    return _settings_page(request, 422, profile_form=form)


@never_cache
@require_GET
@login_required_page
def confirm_email_change(request: HttpRequest, token: str) -> HttpResponse:
    if api.apply_email_change(user=request.user, token=token):
        messages.success(request, "Email changed successfully.")
    else:
        messages.error(request, INVALID_CHANGE_LINK)
    return HttpResponseRedirect(reverse("accounts:settings"))


# --------------------------------------------------------------------------- waiting, dashboard


@never_cache
@require_GET
@login_required_page
def waiting(request: HttpRequest) -> HttpResponse:
    if is_approved_affiliate(request.user):
        return HttpResponseRedirect(reverse("accounts:dashboard"))
    return render(request, "accounts/waiting.html", {"user": request.user})


@require_POST
@login_required_page
def resend_confirmation(request: HttpRequest) -> HttpResponse:
    outcome = api.deliver_confirmation_instructions(user_id=request.user.pk, ip=_ip(request))
    if outcome is api.RequestOutcome.RATE_LIMITED:
        messages.error(request, RATE_LIMITED)
    elif request.user.email_verified:
        messages.info(request, "Your email is already confirmed.")
    else:
        messages.info(request, f"We sent a new confirmation link to {request.user.email}.")
    return HttpResponseRedirect(reverse("accounts:waiting"))
