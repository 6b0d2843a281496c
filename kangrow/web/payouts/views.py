"""Payout pages (balance, threshold, history, withdrawal request, PayPal email) and the PayPal
webhook endpoint: parse input, call one kangrow.payouts.api function, render."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kangrow.accounts import api as accounts_api
from kangrow.accounts.middleware import current_token
from kangrow.core.money import Money
from kangrow.payouts import api
from kangrow.web.accounts.gates import approved_affiliate_required

from .forms import PayPalEmailForm

MAX_WEBHOOK_BYTES = 1_000_000


def _money(amount: int, currency: str) -> str:
    return Money(amount, currency).format()


@never_cache
@require_GET
@approved_affiliate_required
def index(request: HttpRequest) -> HttpResponse:
    overview = api.get_payout_overview(user_id=request.user.pk)
    currencies = [
        {
            "status": c,
            "available": _money(c.available, c.currency),
            "minimum": _money(c.minimum, c.currency),
            "pending": _money(c.pending, c.currency),
            "in_payout": _money(c.in_payout, c.currency),
            "paid": _money(c.paid, c.currency),
        }
        for c in overview.currencies
    ]
    history = [
        {"item": item, "amount": _money(item.amount, item.currency)}
        for item in api.list_payouts(affiliate_id=request.user.pk)
    ]
    context = {
        "overview": overview,
        "minimum": _money(overview.minimum, "USD"),
        "currencies": currencies,
        "history": history,
    }
    return render(request, "payouts/index.html", context)


@require_POST
@approved_affiliate_required
def withdraw(request: HttpRequest) -> HttpResponse:
    try:
        api.request_withdrawal(user_id=request.user.pk)
    except api.PayoutError as exc:
        messages.error(request, f"You cannot withdraw yet: {exc.message}")
    else:
        messages.success(request, "Withdrawal requested: the next payout run pays you.")
    return HttpResponseRedirect(reverse("payouts:index"))


def _reauth_url() -> str:
    return f"{reverse('accounts:log_in')}?next={reverse('payouts:settings')}&reauth=1"


@never_cache
@require_http_methods(["GET", "POST"])
@approved_affiliate_required
def settings_page(request: HttpRequest) -> HttpResponse:
    sudo = accounts_api.is_sudo_mode(token_row=current_token(request))
    form = PayPalEmailForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if not sudo:
            messages.error(request, "You need to re-authenticate to change your PayPal email.")
            return HttpResponseRedirect(_reauth_url())
        if form.is_valid():
            try:
                view = api.request_paypal_email_change(
                    user_id=request.user.pk, email=form.cleaned_data["email"]
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.info(
                    request,
                    f"We sent a confirmation link to {view.email}. Payouts go there once you "
                    "open it.",
                )
                return HttpResponseRedirect(reverse("payouts:settings"))
        status = 422
    context = {
        "paypal": api.get_paypal_email(user_id=request.user.pk),
        "sudo": sudo,
        "form": form,
        "reauth_url": _reauth_url(),
    }
    return render(request, "payouts/settings.html", context, status=status)


@never_cache
@require_GET
@approved_affiliate_required
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    if api.confirm_paypal_email(user_id=request.user.pk, token=token):
        messages.success(request, "PayPal email confirmed: your payouts go there.")
    else:
        messages.error(request, "The confirmation link is invalid, used or expired.")
    return HttpResponseRedirect(reverse("payouts:settings"))


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


@csrf_exempt
@require_POST
def paypal_webhook(request: HttpRequest) -> JsonResponse:
    if len(request.body) > MAX_WEBHOOK_BYTES:
        return _error(413, "invalid_body", "The body is too large.")
    try:
        outcome = api.handle_paypal_webhook(headers=dict(request.headers), body=request.body)
    except api.WebhookRejected as exc:
        return _error(400, exc.code, exc.message)
    except api.WebhookUnverifiable:
        return _error(503, "verification_unavailable", "PayPal could not be asked; retry later.")
    return JsonResponse({"status": outcome})
