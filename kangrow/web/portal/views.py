"""Onboarding, campaign catalog and enrollment pages. Every page parses input, calls the
onboarding or programs api and renders; an affiliate reaches only their own enrollments (any
other slug is a 404). Errors are messages on the page, never a 500."""

from __future__ import annotations

from contextlib import suppress
from functools import wraps

from django.contrib import messages
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
)
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kangrow.onboarding import api as onboarding_api
from kangrow.programs import api as programs
from kangrow.web.accounts.gates import approved_affiliate_required as _approved_affiliate_required
from kangrow.web.accounts.gates import is_approved_affiliate
from kangrow.web.accounts.gates import login_required_page as _login_required_page

from . import presenters
from .context_processors import checklist_for

BANNER_SIZES = ("300x250", "728x90", "1200x628")


def _htmx_redirects(gate):  # type: ignore[no-untyped-def]
    """A gate whose redirects (to log in, to the waiting page) reach HTMX requests as a full
    page navigation (HX-Redirect) instead of a page swapped into a card."""

    def decorate(view):  # type: ignore[no-untyped-def]
        gated = gate(view)

        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:  # type: ignore[no-untyped-def]
            response = gated(request, *args, **kwargs)
            if request.htmx and isinstance(response, HttpResponseRedirect):
                return HttpResponse(status=204, headers={"HX-Redirect": response["Location"]})
            return response

        return wrapper

    return decorate


approved_affiliate_required = _htmx_redirects(_approved_affiliate_required)
login_required_page = _htmx_redirects(_login_required_page)


def _clean_slug(value: str | None) -> str | None:
    if not value or "\x00" in value or len(value) > 60:
        return None
    return value


def _sentence(message: str) -> str:
    """An api message ("this campaign is not open for joining") as a sentence people read."""
    text = message.strip().rstrip(".")
    return text[:1].upper() + text[1:] + "."


def _own_enrollment(request: HttpRequest, slug: str):  # type: ignore[no-untyped-def]
    e = programs.get_affiliate_enrollment(affiliate_id=request.user.pk, campaign_slug=slug)
    if e is None:
        raise Http404("No such enrollment")
    return e


# --------------------------------------------------------------------------- onboarding


@never_cache
@require_GET
@login_required_page
def onboarding(request: HttpRequest) -> HttpResponse:
    overview = onboarding_api.get_overview(user=request.user)
    can_join = is_approved_affiliate(request.user)
    checklist = checklist_for(request)
    links = _checklist_links(can_join=can_join)
    return render(
        request,
        "portal/onboarding.html",
        {
            "overview": overview,
            "checklist": checklist,
            "items": [
                (item, "" if item.done else links.get(item.key, "")) for item in checklist.items
            ],
            "can_join": can_join,
        },
    )


def _checklist_links(*, can_join: bool) -> dict[str, str]:
    """Where each open checklist item is done (pages of other areas when they are mounted)."""
    links = {"profile": reverse("accounts:settings"), "briefs": "#briefs-title"}
    with suppress(NoReverseMatch):  # the payouts pages may not be mounted
        links["paypal"] = reverse("payouts:settings")
    if can_join:
        links["campaign"] = links["shared"] = reverse("portal:catalog")
    return links


@never_cache
@require_GET
@login_required_page
def app_brief(request: HttpRequest, app_slug: str) -> HttpResponse:
    app = programs.get_app_brief(slug=app_slug)
    if app is None:
        raise Http404("No such app")
    read = app.id in onboarding_api.list_read_app_ids(affiliate_id=request.user.pk)
    return render(request, "portal/app_brief.html", {"app": app, "read": read})


@require_POST
@login_required_page
def mark_read(request: HttpRequest, app_slug: str) -> HttpResponse:
    try:
        onboarding_api.mark_brief_read(affiliate_id=request.user.pk, app_slug=app_slug)
    except onboarding_api.OnboardingError as exc:
        raise Http404(exc.message) from exc
    if request.htmx:
        checklist_for(request, fresh=True)
        return render(request, "portal/_brief_read.html", {"read": True, "oob": True})
    messages.success(request, "Marked as read.")
    return HttpResponseRedirect(reverse("portal:onboarding"))


@require_POST
@approved_affiliate_required
def link_shared(request: HttpRequest, slug: str) -> HttpResponse:
    """The copy and share buttons report here (HTMX); answers the refreshed progress bar."""
    try:
        onboarding_api.record_link_shared(affiliate_id=request.user.pk, campaign_slug=slug)
    except onboarding_api.OnboardingError as exc:
        raise Http404(exc.message) from exc
    checklist_for(request, fresh=True)
    return render(request, "portal/_progress.html", {"oob": True})


# --------------------------------------------------------------------------- catalog


def _cards(request: HttpRequest, app_slug: str | None) -> list[presenters.CampaignCard]:
    mine = {e.campaign_id: e for e in programs.list_enrollments(affiliate_id=request.user.pk)}
    return [
        presenters.campaign_card(c, mine.get(c.id))
        for c in programs.list_catalog(app_slug=app_slug)
    ]


@never_cache
@require_GET
@approved_affiliate_required
def catalog(request: HttpRequest) -> HttpResponse:
    app_slug = _clean_slug(request.GET.get("app"))
    context = {"cards": _cards(request, app_slug), "selected_app": app_slug or ""}
    if request.htmx and request.htmx.target == "campaign-list":
        return render(request, "portal/_campaign_list.html", context)
    context["apps"] = programs.list_active_apps()
    return render(request, "portal/catalog.html", context)


def _card_response(request: HttpRequest, slug: str, error: str = "") -> HttpResponse:
    campaign = next(iter(programs.list_catalog(campaign_slug=slug)), None)
    if campaign is None:  # closed meanwhile: reload the catalog, with the reason on top
        messages.error(request, _sentence(error or "this campaign is no longer open"))
        return HttpResponse(status=204, headers={"HX-Refresh": "true"})
    enrollment = programs.get_affiliate_enrollment(affiliate_id=request.user.pk, campaign_slug=slug)
    card = presenters.campaign_card(campaign, enrollment, error=error)
    checklist_for(request, fresh=True)
    return render(request, "portal/_campaign_card.html", {"card": card, "oob_progress": True})


@require_POST
@approved_affiliate_required
def join(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        ref = programs.join_campaign(affiliate_id=request.user.pk, campaign_slug=slug)
    except programs.ProgramError as exc:
        if exc.code == "unknown_campaign":
            raise Http404("No such campaign") from exc
        if request.htmx:
            return _card_response(request, slug, error=exc.message)
        messages.error(request, _sentence(exc.message))
        return HttpResponseRedirect(reverse("portal:catalog"))
    if request.htmx:
        return _card_response(request, slug)
    if ref.status == "active":
        messages.success(request, f"You joined {ref.campaign_name}. Here are your link and code.")
        return HttpResponseRedirect(reverse("portal:enrollment", args=[slug]))
    messages.info(request, f"Your request to join {ref.campaign_name} awaits staff approval.")
    return HttpResponseRedirect(reverse("portal:catalog"))


@never_cache
@require_http_methods(["GET", "POST"])
@approved_affiliate_required
def leave(request: HttpRequest, slug: str) -> HttpResponse:
    e = _own_enrollment(request, slug)
    if request.method == "GET":
        return render(request, "portal/leave.html", {"enrollment": e})
    try:
        ref = programs.leave_campaign(affiliate_id=request.user.pk, campaign_slug=slug)
    except programs.ProgramError as exc:
        raise Http404(exc.message) from exc
    messages.success(
        request,
        f"You left {ref.campaign_name}. Your link and code no longer earn on new customers; "
        "customers you already referred keep paying you.",
    )
    return HttpResponseRedirect(reverse("portal:catalog"))


# --------------------------------------------------------------------------- enrollment page


@never_cache
@require_GET
@approved_affiliate_required
def enrollment(request: HttpRequest, slug: str) -> HttpResponse:
    e = _own_enrollment(request, slug)
    campaign, app = e.campaign, e.campaign.app
    link = programs.tracking_link(token=e.token)
    card = presenters.campaign_card(campaign, e)
    context = {
        "enrollment": e,
        "campaign": campaign,
        "app": app,
        "card": card,
        "link": link,
        "active": e.status == "active",
    }
    if e.status == "active":
        context["share"] = presenters.share_texts(
            app_name=app.name,
            value_proposition=app.value_proposition,
            discount=card.discount,
            code=e.coupon_code,
            link=link,
        )
        context["assets"] = programs.list_campaign_assets(campaign_id=campaign.id)
        context["banner_sizes"] = BANNER_SIZES
    return render(request, "portal/enrollment.html", context)


def _active_link(request: HttpRequest, slug: str) -> str:
    e = _own_enrollment(request, slug)
    if e.status != "active":
        raise Http404("Enrollment not active")
    return programs.tracking_link(token=e.token)


@require_GET
@approved_affiliate_required
def qr_svg(request: HttpRequest, slug: str) -> HttpResponse:
    response = HttpResponse(presenters.qr_svg(_active_link(request, slug)), "image/svg+xml")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@require_GET
@approved_affiliate_required
def qr_png(request: HttpRequest, slug: str) -> HttpResponse:
    response = HttpResponse(presenters.qr_png(_active_link(request, slug)), "image/png")
    response["Content-Disposition"] = f'attachment; filename="kangrow-{slug}-qr.png"'
    response["Cache-Control"] = "private, max-age=3600"
    return response


@require_GET
@approved_affiliate_required
def banner(request: HttpRequest, slug: str, size: str) -> HttpResponse:
    png = programs.render_banner(affiliate_id=request.user.pk, campaign_slug=slug, size=size)
    if png is None:
        raise Http404("No such banner")
    response = HttpResponse(png, "image/png")
    response["Cache-Control"] = "private, max-age=3600"
    if request.GET.get("download") == "1":
        response["Content-Disposition"] = f'attachment; filename="kangrow-{slug}-{size}.png"'
    return response


@require_GET
@approved_affiliate_required
def asset(request: HttpRequest, slug: str, asset_id) -> HttpResponse:  # type: ignore[no-untyped-def]
    e = _own_enrollment(request, slug)
    if e.status != "active":
        raise Http404("Enrollment not active")
    row = programs.get_campaign_asset(campaign_id=e.campaign_id, asset_id=asset_id)
    if row is None:
        raise Http404("No such asset")
    try:
        handle = row.file.open("rb")
    except (OSError, ValueError) as exc:
        raise Http404("File missing") from exc
    name = row.file.name.rsplit("/", 1)[-1]
    return FileResponse(handle, as_attachment=True, filename=name)
