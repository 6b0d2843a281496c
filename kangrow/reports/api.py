"""The reports context's public API: read-only performance figures of an affiliate.

It owns no tables. Every figure comes from the other contexts' aggregate reads (one GROUP BY
query each), so a dashboard costs a fixed number of queries whatever the number of rows:

- clicks: clicks on the affiliate's tracking links in the period;
- signups: customers attributed to the affiliate in the period (self-referrals excluded);
- paying customers: referred customers with at least one invoice paid in the period;
- conversion rate: signups ÷ clicks, in basis points (None without clicks);
- revenue referred: what referred customers paid on commission-earning invoices in the period;
- commissions pending / payable / paid: commissions of invoices paid in the period, by their
  current status, after refunds and clawbacks, per currency;
- earnings per click (EPC): those commissions (all statuses, net) ÷ clicks, per currency;
- cancellations: referred customers who cancelled in the period.

Days are UTC calendar days; `start` and `end` are both included. The dashboard's reads go to
the read replica when one is configured (kangrow.core.replica); the streaming exports hold one
cursor for their whole run and read the primary.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from uuid import UUID

from kangrow.core.money import Money, apply_rate
from kangrow.core.replica import on_replica
from kangrow.ledger import api as ledger_api
from kangrow.programs import api as programs_api
from kangrow.tracking import api as tracking_api

MAX_DAYS = 366
STATUSES = ("pending", "payable", "paid")


class ReportError(ValueError):
    """A period or filter the reports refuse, with a stable code and the offending field."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


@dataclass(frozen=True)
class CommissionBuckets:
    """Commissions in one currency, by status, net of refunds (minor units)."""

    currency: str
    pending: int = 0
    payable: int = 0
    paid: int = 0

    @property
    def total(self) -> int:
        return self.pending + self.payable + self.paid

    def money(self, status: str) -> Money:
        return Money(getattr(self, status), self.currency)

    @property
    def pending_money(self) -> Money:
        return self.money("pending")

    @property
    def payable_money(self) -> Money:
        return self.money("payable")

    @property
    def paid_money(self) -> Money:
        return self.money("paid")


@dataclass(frozen=True)
class Totals:
    clicks: int = 0
    signups: int = 0
    paying_customers: int = 0
    cancellations: int = 0
    revenue: tuple[Money, ...] = ()  # per currency
    commissions: tuple[CommissionBuckets, ...] = ()  # per currency
    epc: tuple[Money, ...] = ()  # per currency; empty without clicks

    @property
    def conversion_bps(self) -> int | None:
        """signups ÷ clicks in basis points (1250 = 12.50 %), None without clicks."""
        return _divide(self.signups * 10_000, self.clicks) if self.clicks else None

    @property
    def conversion_percent(self) -> str:
        bps = self.conversion_bps
        return "—" if bps is None else f"{bps // 100}.{bps % 100:02d} %"


@dataclass(frozen=True)
class DayPoint:
    day: date
    clicks: int = 0
    signups: int = 0
    cancellations: int = 0
    commissions: dict[str, int] = field(default_factory=dict)  # currency -> minor units, gross


@dataclass(frozen=True)
class CampaignStats:
    campaign_id: UUID
    campaign_name: str
    app_name: str
    totals: Totals


@dataclass(frozen=True)
class CampaignChoice:
    campaign_id: UUID
    label: str


@dataclass(frozen=True)
class AffiliateStats:
    start: date
    end: date
    campaign_id: UUID | None
    totals: Totals
    days: list[DayPoint]
    campaigns: list[CampaignStats]
    choices: list[CampaignChoice]  # every campaign the affiliate joined, for a filter

    @property
    def currencies(self) -> list[str]:
        return sorted({c for d in self.days for c in d.commissions})


@dataclass(frozen=True)
class ReferralRow:
    id: UUID
    customer: str  # masked email, else the app's customer id
    app_name: str
    campaign_name: str
    status: str  # "active", "cancelled"
    self_referral: bool
    attributed_by: str
    referred_at: datetime
    cancelled_at: datetime | None
    first_paid_at: datetime | None
    commission_total: tuple[Money, ...]  # net of refunds, per currency


@dataclass(frozen=True)
class ReferralPage:
    rows: list[ReferralRow]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


@dataclass(frozen=True)
class CommissionRow:
    id: UUID
    paid_at: datetime
    app_name: str
    campaign_name: str
    invoice_id: str
    invoice_amount: Money
    rate_bps: int
    amount: Money
    net_amount: Money
    status: str
    available_at: datetime


# --- helpers -----------------------------------------------------------------------------------


def _divide(numerator: int, denominator: int) -> int:
    """numerator ÷ denominator rounded half-up, through the project's one rounding rule
    (apply_rate at 100 % of the exact quotient)."""
    return apply_rate(Fraction(numerator, denominator), 10_000)  # type: ignore[arg-type]


def _window(start: date, end: date) -> tuple[datetime, datetime]:
    if not isinstance(start, date) or not isinstance(end, date):
        raise ReportError("invalid", "start and end must be dates", "start")
    if start > end:
        raise ReportError("invalid_period", "the start date is after the end date", "start")
    if (end - start).days + 1 > MAX_DAYS:
        raise ReportError("period_too_long", f"a period is at most {MAX_DAYS} days", "end")
    since = datetime.combine(start, time.min, tzinfo=UTC)
    return since, datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)


class _Acc:
    """Mutable totals while summing one scope (the whole, or one campaign)."""

    def __init__(self) -> None:
        self.clicks = self.signups = self.paying = self.cancellations = 0
        self.revenue: dict[str, int] = defaultdict(int)
        self.net: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(STATUSES, 0))

    def freeze(self) -> Totals:
        currencies = sorted(set(self.revenue) | set(self.net))
        buckets = tuple(
            CommissionBuckets(c, **self.net[c]) if c in self.net else CommissionBuckets(c)
            for c in currencies
        )
        epc = (
            tuple(Money(_divide(b.total, self.clicks), b.currency) for b in buckets)
            if self.clicks
            else ()
        )
        return Totals(
            clicks=self.clicks,
            signups=self.signups,
            paying_customers=self.paying,
            cancellations=self.cancellations,
            revenue=tuple(Money(self.revenue[c], c) for c in currencies),
            commissions=buckets,
            epc=epc,
        )


_Names = dict[UUID, tuple[str, str]]  # campaign id -> (campaign name, app name)


def _names(affiliate_id: UUID) -> tuple[list[programs_api.EnrollmentRef], _Names]:
    enrollments = programs_api.list_enrollments(affiliate_id=affiliate_id)
    names = {e.campaign_id: (e.campaign_name, e.app_name) for e in enrollments}
    return enrollments, names


# --- stats -------------------------------------------------------------------------------------


@on_replica
def get_affiliate_stats(
    *, affiliate_id: UUID, start: date, end: date, campaign_id: UUID | None = None
) -> AffiliateStats:
    """Totals, a daily series and a per-campaign breakdown of one affiliate over [start, end]
    (UTC days, both included), optionally for one campaign only. Six queries, whatever the
    number of clicks, referrals or commissions. Raises ReportError for an unusable period or a
    campaign the affiliate has not joined."""
    since, until = _window(start, end)
    enrollments, names = _names(affiliate_id)
    if campaign_id is not None and campaign_id not in names:
        raise ReportError("unknown_campaign", "You have not joined this campaign.", "campaign")
    enrollment_ids = [
        e.id for e in enrollments if campaign_id is None or e.campaign_id == campaign_id
    ]
    clicks = tracking_api.count_clicks_by_day(
        enrollment_ids=enrollment_ids, since=since, until=until
    )
    signups = tracking_api.count_referrals_by_day(
        affiliate_id=affiliate_id, since=since, until=until, campaign_id=campaign_id
    )
    cancellations = tracking_api.count_referrals_by_day(
        affiliate_id=affiliate_id, since=since, until=until, campaign_id=campaign_id, cancelled=True
    )
    by_day = ledger_api.summarize_commissions_by_day(
        affiliate_id=affiliate_id, since=since, until=until, campaign_id=campaign_id
    )
    paying = ledger_api.count_paying_customers(
        affiliate_id=affiliate_id, since=since, until=until, campaign_id=campaign_id
    )

    whole = _Acc()
    per: dict[UUID, _Acc] = defaultdict(_Acc)
    for cid in names:
        if campaign_id is None or cid == campaign_id:
            per[cid]  # noqa: B018 - every joined campaign gets a row, even without activity
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    day_clicks: dict[date, int] = defaultdict(int)
    day_signups: dict[date, int] = defaultdict(int)
    day_cancels: dict[date, int] = defaultdict(int)
    day_money: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    for row in clicks:
        whole.clicks += row.count
        per[row.campaign_id].clicks += row.count
        day_clicks[row.day] += row.count
    for row in signups:
        whole.signups += row.count
        per[row.campaign_id].signups += row.count
        day_signups[row.day] += row.count
    for row in cancellations:
        whole.cancellations += row.count
        per[row.campaign_id].cancellations += row.count
        day_cancels[row.day] += row.count
    for c in by_day:
        whole.revenue[c.currency] += c.invoice_amount
        per[c.campaign_id].revenue[c.currency] += c.invoice_amount
        day_money[c.day][c.currency] += c.amount
        if c.status in STATUSES:
            whole.net[c.currency][c.status] += c.net_amount
            per[c.campaign_id].net[c.currency][c.status] += c.net_amount
    for cid, count in paying.items():
        whole.paying += count  # a referral belongs to one campaign: per-campaign counts add up
        per[cid].paying += count

    series = [
        DayPoint(
            day=d,
            clicks=day_clicks.get(d, 0),
            signups=day_signups.get(d, 0),
            cancellations=day_cancels.get(d, 0),
            commissions=dict(day_money.get(d, {})),
        )
        for d in days
    ]
    campaigns = [
        CampaignStats(
            campaign_id=cid,
            campaign_name=names.get(cid, ("(unknown campaign)", ""))[0],
            app_name=names.get(cid, ("", ""))[1],
            totals=acc.freeze(),
        )
        for cid, acc in per.items()
    ]
    campaigns.sort(key=lambda c: (c.app_name.lower(), c.campaign_name.lower()))
    return AffiliateStats(
        start=start,
        end=end,
        campaign_id=campaign_id,
        totals=whole.freeze(),
        days=series,
        campaigns=campaigns,
        choices=_choices(names),
    )


def _choices(names: _Names) -> list[CampaignChoice]:
    choices = [CampaignChoice(cid, f"{app} · {name}") for cid, (name, app) in names.items()]
    return sorted(choices, key=lambda c: c.label.lower())


@on_replica
def list_campaign_choices(*, affiliate_id: UUID) -> list[CampaignChoice]:
    """The campaigns the affiliate has joined (or left), for a filter: "App · Campaign"."""
    return _choices(_names(affiliate_id)[1])


# --- referrals and commissions -------------------------------------------------------------------


def _referral_rows(
    refs: list[tracking_api.ReferralRef],
    names: dict[UUID, tuple[str, str]],
    earnings: dict[UUID, ledger_api.ReferralEarnings],
) -> list[ReferralRow]:
    rows = []
    for r in refs:
        earned = earnings.get(r.id)
        name, app = names.get(r.campaign_id, ("(unknown campaign)", ""))
        rows.append(
            ReferralRow(
                id=r.id,
                customer=r.customer_email_masked or r.customer_id,
                app_name=app,
                campaign_name=name,
                status=r.status,
                self_referral=r.self_referral,
                attributed_by=r.attributed_by,
                referred_at=r.referred_at,
                cancelled_at=r.cancelled_at,
                first_paid_at=earned.first_paid_at if earned else None,
                commission_total=tuple(
                    Money(v, c) for c, v in sorted(earned.net_by_currency.items())
                )
                if earned
                else (),
            )
        )
    return rows


@on_replica
def list_referrals_page(
    *, affiliate_id: UUID, page: int = 1, per_page: int = 25, campaign_id: UUID | None = None
) -> ReferralPage:
    """One page of the affiliate's referrals, newest first, with masked customers, status,
    campaign, first paid invoice and commission total. Four queries, whatever the page size."""
    per_page = min(max(int(per_page), 1), 200)
    page = max(int(page), 1)
    _, names = _names(affiliate_id)
    refs, total = tracking_api.page_referrals(
        affiliate_id=affiliate_id,
        offset=(page - 1) * per_page,
        limit=per_page,
        campaign_id=campaign_id,
    )
    earnings = ledger_api.summarize_referral_earnings(
        affiliate_id=affiliate_id, referral_ids=[r.id for r in refs]
    )
    return ReferralPage(
        rows=_referral_rows(refs, names, earnings), page=page, per_page=per_page, total=total
    )


def iter_referral_rows(*, affiliate_id: UUID, chunk_size: int = 500) -> Iterator[ReferralRow]:
    """Every referral of the affiliate (for a streaming export): two queries per chunk."""
    _, names = _names(affiliate_id)
    for refs in tracking_api.iter_referrals(affiliate_id=affiliate_id, chunk_size=chunk_size):
        earnings = ledger_api.summarize_referral_earnings(
            affiliate_id=affiliate_id, referral_ids=[r.id for r in refs]
        )
        yield from _referral_rows(refs, names, earnings)


def iter_commission_rows(*, affiliate_id: UUID) -> Iterator[CommissionRow]:
    """Every commission of the affiliate, newest first (for a streaming export)."""
    _, names = _names(affiliate_id)
    for c in ledger_api.iter_commissions(affiliate_id=affiliate_id):
        name, app = names.get(c.campaign_id, ("(unknown campaign)", ""))
        yield CommissionRow(
            id=c.id,
            paid_at=c.paid_at,
            app_name=app,
            campaign_name=name,
            invoice_id=c.invoice_id,
            invoice_amount=Money(c.invoice_amount, c.currency),
            rate_bps=c.rate_bps,
            amount=Money(c.amount, c.currency),
            net_amount=Money(c.net_amount, c.currency),
            status=c.status,
            available_at=c.available_at,
        )
