"""The affiliate's performance pages and notifications centre: parse input, call one api
function, render. Bad input is a form error (400), never a 500; nothing here writes except the
notification read marks and the email preferences, by POST."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kangrow.core.money import Money
from kangrow.notifications import api as notifications_api
from kangrow.reports import api as reports
from kangrow.web.accounts.gates import approved_affiliate_required, login_required_page

from .csv_export import csv_lines
from .forms import PERIODS, PeriodForm, PreferencesForm

REFERRALS_PER_PAGE = 25


def _iso(value) -> str:  # type: ignore[no-untyped-def]
    return value.isoformat() if value else ""


def _money_list(values) -> str:  # type: ignore[no-untyped-def]
    return "; ".join(m.format() for m in values)


def _chart_data(stats: reports.AffiliateStats) -> dict[str, list[dict]]:
    """Series in Chartkick's format: [{"name": ..., "data": [[day, value], ...]}]."""
    activity = [
        {"name": "Clicks", "data": [[d.day.isoformat(), d.clicks] for d in stats.days]},
        {"name": "Signups", "data": [[d.day.isoformat(), d.signups] for d in stats.days]},
    ]
    money = [
        {
            "name": f"Commissions ({currency})",
            "data": [
                [
                    d.day.isoformat(),
                    Money(d.commissions.get(currency, 0), currency).decimal_string(),
                ]
                for d in stats.days
            ],
        }
        for currency in stats.currencies
    ]
    return {"activity": activity, "money": money}


def _daily_rows(stats: reports.AffiliateStats) -> list[dict]:
    """The charts' figures as table rows (for screen readers and people who prefer numbers)."""
    currencies = stats.currencies
    return [
        {
            "day": d.day,
            "clicks": d.clicks,
            "signups": d.signups,
            "cancellations": d.cancellations,
            "money": [Money(d.commissions.get(c, 0), c) for c in currencies],
        }
        for d in stats.days
    ]


# --------------------------------------------------------------------------- dashboard


@never_cache
@require_GET
@approved_affiliate_required
def dashboard(request: HttpRequest) -> HttpResponse:
    form = PeriodForm(request.GET)
    stats = None
    if form.is_valid():
        start, end = form.window
        try:
            stats = reports.get_affiliate_stats(
                affiliate_id=request.user.pk,
                start=start,
                end=end,
                campaign_id=form.cleaned_data.get("campaign"),
            )
        except reports.ReportError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    choices = (
        stats.choices
        if stats is not None
        else reports.list_campaign_choices(affiliate_id=request.user.pk)
    )
    context = {
        "form": form,
        "stats": stats,
        "charts": _chart_data(stats) if stats else None,
        "daily_rows": _daily_rows(stats) if stats else [],
        "choices": choices,
        "periods": PERIODS,
        "selected_campaign": str(form.data.get("campaign", "")),
        "selected_period": form.cleaned_data.get("period", "30")
        if hasattr(form, "cleaned_data")
        else "30",
        "today": timezone.localdate(),
    }
    template = "dashboard/_stats.html" if request.htmx else "dashboard/index.html"
    status = 200 if stats is not None or request.htmx else 400
    return render(request, template, context, status=status)


def _page_number(request: HttpRequest) -> int | None:
    raw = request.GET.get("page", "1")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 6:
        return None
    return max(int(raw), 1)


def _campaign_filter(request: HttpRequest) -> tuple[UUID | None, bool]:
    raw = request.GET.get("campaign", "")
    if not raw:
        return None, True
    try:
        return UUID(raw), True
    except ValueError:
        return None, False


@never_cache
@require_GET
@approved_affiliate_required
def referrals(request: HttpRequest) -> HttpResponse:
    page_number = _page_number(request)
    campaign_id, campaign_ok = _campaign_filter(request)
    if page_number is None or not campaign_ok:
        error = (
            "The page must be a whole number."
            if page_number is None
            else ("Choose one of your campaigns.")
        )
        return render(
            request,
            "dashboard/referrals.html",
            {"error": error, "page": None},
            status=400,
        )
    page = reports.list_referrals_page(
        affiliate_id=request.user.pk,
        page=page_number,
        per_page=REFERRALS_PER_PAGE,
        campaign_id=campaign_id,
    )
    context = {"page": page, "campaign": str(campaign_id or "")}
    template = "dashboard/_referrals.html" if request.htmx else "dashboard/referrals.html"
    return render(request, template, context)


def _csv_response(name: str, lines) -> StreamingHttpResponse:  # type: ignore[no-untyped-def]
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    filename = f"kangrow-{name}-{timezone.localdate().isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@approved_affiliate_required
def export_referrals(request: HttpRequest) -> StreamingHttpResponse:
    rows = (
        [
            r.id,
            r.customer,
            r.app_name,
            r.campaign_name,
            r.status,
            "yes" if r.self_referral else "no",
            r.attributed_by,
            _iso(r.referred_at),
            _iso(r.cancelled_at),
            _iso(r.first_paid_at),
            _money_list(r.commission_total),
        ]
        for r in reports.iter_referral_rows(affiliate_id=request.user.pk)
    )
    header = [
        "referral_id",
        "customer",
        "app",
        "campaign",
        "status",
        "self_referral",
        "attributed_by",
        "referred_at",
        "cancelled_at",
        "first_paid_at",
        "commission_total",
    ]
    return _csv_response("referrals", csv_lines(header, rows))


@require_GET
@approved_affiliate_required
def export_commissions(request: HttpRequest) -> StreamingHttpResponse:
    rows = (
        [
            c.id,
            _iso(c.paid_at),
            c.app_name,
            c.campaign_name,
            c.invoice_id,
            c.amount.currency,
            c.invoice_amount.decimal_string(),
            f"{c.rate_bps // 100}.{c.rate_bps % 100:02d}",
            c.amount.decimal_string(),
            c.net_amount.decimal_string(),
            c.status,
            _iso(c.available_at),
        ]
        for c in reports.iter_commission_rows(affiliate_id=request.user.pk)
    )
    header = [
        "commission_id",
        "paid_at",
        "app",
        "campaign",
        "invoice_id",
        "currency",
        "invoice_amount",
        "rate_percent",
        "commission",
        "net_after_refunds",
        "status",
        "payable_from",
    ]
    return _csv_response("commissions", csv_lines(header, rows))


# --------------------------------------------------------------------------- notifications


@never_cache
@require_GET
@login_required_page
def notifications(request: HttpRequest) -> HttpResponse:
    items = notifications_api.list_notifications(user_id=request.user.pk, limit=100)
    return render(request, "notifications/index.html", {"items": items})


@require_POST
@login_required_page
def mark_read(request: HttpRequest, notification_id: UUID) -> HttpResponse:
    """Mark one of the user's notifications read (another user's id changes nothing), then
    show the centre; HTMX picks the item and the header badge out of that page."""
    notifications_api.mark_read(user_id=request.user.pk, notification_id=notification_id)
    return HttpResponseRedirect(reverse("dashboard:notifications"), status=303)


@require_POST
@login_required_page
def mark_all_read(request: HttpRequest) -> HttpResponse:
    count = notifications_api.mark_read(user_id=request.user.pk)
    if not request.htmx:
        messages.success(request, f"Marked {count} notification{'s' if count != 1 else ''} read.")
    return HttpResponseRedirect(reverse("dashboard:notifications"), status=303)


@never_cache
@require_http_methods(["GET", "POST"])
@login_required_page
def preferences(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = PreferencesForm(request.POST, preferences=notifications_api.EMAIL_KINDS)
        if form.is_valid():
            notifications_api.set_email_preferences(
                user_id=request.user.pk, enabled=dict(form.cleaned_data)
            )
            messages.success(request, "Email preferences saved.")
            return HttpResponseRedirect(reverse("dashboard:preferences"))
        return render(request, "notifications/preferences.html", {"form": form}, status=400)
    form = PreferencesForm(
        preferences=notifications_api.get_email_preferences(user_id=request.user.pk)
    )
    return render(request, "notifications/preferences.html", {"form": form})
