"""Affiliate endpoints (access token), every one scoped to the token's owner.

Lists are paginated with `limit` (1 to 100, default 50) and `offset`: {"items", "count"}.
"""

from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema
from ninja.pagination import LimitOffsetPagination, paginate

from kangrow.ledger import api as ledger_api
from kangrow.notifications import api as notifications_api
from kangrow.payouts import api as payouts_api
from kangrow.programs import api as programs_api
from kangrow.reports import api as reports_api
from kangrow.tracking import api as tracking_api

from .auth import AffiliateToken, CredentialThrottle, errors
from .base import ApiError

router = Router(tags=["me"], auth=AffiliateToken(), throttle=[CredentialThrottle()])

MAX_OFFSET = 1_000_000


class Pagination(LimitOffsetPagination):
    """limit 1 to 100 (default 50) and offset 0 to 1,000,000: {"items", "count"}."""

    class Input(Schema):
        limit: int = Field(50, ge=1, le=100)
        offset: int = Field(0, ge=0, le=MAX_OFFSET)


def _user_id(request: HttpRequest) -> UUID:
    return request.auth.user.pk  # type: ignore[attr-defined]


def link_for(token: str) -> str:
    return settings.KANGROW_BASE_URL.rstrip("/") + f"/r/{token}"


# --- balance --------------------------------------------------------------------------------


class BalanceOut(Schema):
    currency: str
    pending: int = Field(description="In the hold period (minor units)")
    payable: int = Field(description="Due and not yet in a paid payout, clawbacks subtracted")
    paid: int = Field(description="Settled by PayPal")


class BalancesOut(Schema):
    balances: list[BalanceOut]


@router.get("/balance", response={200: BalancesOut, **errors(401, 403)}, summary="My balances")
def my_balance(request: HttpRequest) -> BalancesOut:
    rows = ledger_api.get_balances(affiliate_id=_user_id(request))
    return BalancesOut(
        balances=[
            BalanceOut(currency=b.currency, pending=b.pending, payable=b.payable, paid=b.paid)
            for b in rows
        ]
    )


# --- enrollments ----------------------------------------------------------------------------


class EnrollmentOut(Schema):
    id: UUID
    campaign_slug: str
    campaign_name: str
    app_slug: str
    app_name: str
    status: str
    live: bool
    coupon_code: str
    token: str
    link: str
    commission_bps: int
    recurring: bool
    recurring_months: int | None
    cookie_days: int
    hold_days: int
    currency: str


def enrollment_out(e: programs_api.EnrollmentRef) -> EnrollmentOut:
    return EnrollmentOut(
        id=e.id,
        campaign_slug=e.campaign_slug,
        campaign_name=e.campaign_name,
        app_slug=e.app_slug,
        app_name=e.app_name,
        status=e.status,
        live=e.is_live(),
        coupon_code=e.coupon_code,
        token=e.token,
        link=link_for(e.token),
        commission_bps=e.terms.commission_bps,
        recurring=e.terms.recurring,
        recurring_months=e.terms.recurring_months,
        cookie_days=e.terms.cookie_days,
        hold_days=e.terms.hold_days,
        currency=e.currency,
    )


@router.get(
    "/enrollments",
    response={200: list[EnrollmentOut], **errors(401, 403)},
    summary="My campaigns, with coupon code and link",
)
@paginate(Pagination)
def my_enrollments(request: HttpRequest) -> list[EnrollmentOut]:
    rows = programs_api.list_enrollments(affiliate_id=_user_id(request))
    return [enrollment_out(e) for e in sorted(rows, key=lambda e: e.id, reverse=True)]


# --- referrals, commissions, payouts, notifications -----------------------------------------


class MyReferralOut(Schema):
    id: UUID
    app_id: UUID
    campaign_id: UUID
    customer_email_masked: str
    attributed_by: str
    commission_bps: int
    status: str
    self_referral: bool
    referred_at: datetime
    cancelled_at: datetime | None


@router.get(
    "/referrals",
    response={200: list[MyReferralOut], **errors(401, 403)},
    summary="Customers I referred (emails masked)",
)
@paginate(Pagination)
def my_referrals(request: HttpRequest) -> list[MyReferralOut]:
    rows = tracking_api.list_referrals(affiliate_id=_user_id(request))
    return [
        MyReferralOut(
            id=r.id,
            app_id=r.app_id,
            campaign_id=r.campaign_id,
            customer_email_masked=r.customer_email_masked,
            attributed_by=r.attributed_by,
            commission_bps=r.terms.commission_bps,
            status=r.status,
            self_referral=r.self_referral,
            referred_at=r.referred_at,
            cancelled_at=r.cancelled_at,
        )
        for r in sorted(rows, key=lambda r: r.referred_at, reverse=True)
    ]


class CommissionOut(Schema):
    id: UUID
    app_id: UUID
    campaign_id: UUID
    referral_id: UUID
    invoice_id: str
    currency: str
    invoice_amount: int
    rate_bps: int
    amount: int
    net_amount: int
    status: str
    paid_at: datetime
    available_at: datetime


@router.get(
    "/commissions",
    response={200: list[CommissionOut], **errors(401, 403)},
    summary="My commissions, newest first (net of refunds and clawbacks)",
)
@paginate(Pagination)
def my_commissions(request: HttpRequest) -> list[CommissionOut]:
    rows = ledger_api.list_commissions(affiliate_id=_user_id(request), limit=10_000)
    return [CommissionOut(**vars(c)) for c in rows]


class PayoutOut(Schema):
    id: UUID
    created_at: datetime
    amount: int
    currency: str
    receiver: str
    state: str
    transaction_status: str
    status_label: str
    settled_at: datetime | None


@router.get(
    "/payouts",
    response={200: list[PayoutOut], **errors(401, 403)},
    summary="My payouts, newest first",
)
@paginate(Pagination)
def my_payouts(request: HttpRequest) -> list[PayoutOut]:
    rows = payouts_api.list_payouts(affiliate_id=_user_id(request), limit=10_000)
    return [
        PayoutOut(
            id=p.id,
            created_at=p.created_at,
            amount=p.amount,
            currency=p.currency,
            receiver=p.receiver,
            state=p.state,
            transaction_status=p.transaction_status,
            status_label=p.status_label,
            settled_at=p.settled_at,
        )
        for p in rows
    ]


class NotificationOut(Schema):
    id: UUID
    kind: str
    title: str
    body: str
    data: dict[str, Any]
    read_at: datetime | None
    created_at: datetime


@router.get(
    "/notifications",
    response={200: list[NotificationOut], **errors(401, 403)},
    summary="My notifications, newest first",
)
@paginate(Pagination)
def my_notifications(request: HttpRequest) -> list[NotificationOut]:
    rows = notifications_api.list_notifications(user_id=_user_id(request), limit=1000)
    return [NotificationOut(**vars(n)) for n in rows]


# --- stats ----------------------------------------------------------------------------------


class StatsQuery(Schema):
    from_: date | None = Field(
        None, alias="from", description="First day (UTC), default 29 days ago"
    )
    to: date | None = Field(None, description="Last day (UTC), included; default today")
    campaign_id: UUID | None = None


class MoneyOut(Schema):
    amount: int
    currency: str


class BucketsOut(Schema):
    currency: str
    pending: int
    payable: int
    paid: int


class TotalsOut(Schema):
    clicks: int
    signups: int
    paying_customers: int
    cancellations: int
    conversion_bps: int | None
    revenue: list[MoneyOut]
    commissions: list[BucketsOut]
    epc: list[MoneyOut]


class DayOut(Schema):
    day: date
    clicks: int
    signups: int
    cancellations: int
    commissions: dict[str, int]


class CampaignStatsOut(Schema):
    campaign_id: UUID
    campaign_name: str
    app_name: str
    totals: TotalsOut


class StatsOut(Schema):
    start: date
    end: date
    campaign_id: UUID | None
    totals: TotalsOut
    days: list[DayOut]
    campaigns: list[CampaignStatsOut]


def _totals(t: reports_api.Totals) -> TotalsOut:
    return TotalsOut(
        clicks=t.clicks,
        signups=t.signups,
        paying_customers=t.paying_customers,
        cancellations=t.cancellations,
        conversion_bps=t.conversion_bps,
        revenue=[MoneyOut(amount=m.amount, currency=m.currency) for m in t.revenue],
        commissions=[
            BucketsOut(currency=c.currency, pending=c.pending, payable=c.payable, paid=c.paid)
            for c in t.commissions
        ],
        epc=[MoneyOut(amount=m.amount, currency=m.currency) for m in t.epc],
    )


_EARLIEST, _LATEST = date(2000, 1, 1), date(2999, 12, 31)


@router.get(
    "/stats",
    response={200: StatsOut, **errors(401, 403)},
    summary="My clicks, signups, cancellations and commissions per day over a period",
)
def my_stats(request: HttpRequest, query: Query[StatsQuery]) -> StatsOut:
    today = timezone.now().date()
    end = query.to or today
    for name, value in (("from", query.from_), ("to", end)):
        if value is not None and not _EARLIEST <= value <= _LATEST:
            raise ApiError(422, "invalid_period", f"{name} must be between 2000 and 2999.")
    start = query.from_ or min(end, today) - timedelta(days=29)
    try:
        stats = reports_api.get_affiliate_stats(
            affiliate_id=_user_id(request), start=start, end=end, campaign_id=query.campaign_id
        )
    except reports_api.ReportError as exc:
        raise ApiError(422, exc.code, exc.message, {"field": exc.field})
    return StatsOut(
        start=stats.start,
        end=stats.end,
        campaign_id=stats.campaign_id,
        totals=_totals(stats.totals),
        days=[
            DayOut(
                day=d.day,
                clicks=d.clicks,
                signups=d.signups,
                cancellations=d.cancellations,
                commissions=dict(d.commissions),
            )
            for d in stats.days
        ],
        campaigns=[
            CampaignStatsOut(
                campaign_id=c.campaign_id,
                campaign_name=c.campaign_name,
                app_name=c.app_name,
                totals=_totals(c.totals),
            )
            for c in stats.campaigns
        ],
    )
