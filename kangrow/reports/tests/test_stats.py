"""get_affiliate_stats on hand-built data: exact numbers, time windows, per campaign, scoping
to the affiliate, and a constant number of queries."""

from __future__ import annotations

from datetime import date

import pytest

from kangrow.core.money import Money
from kangrow.ledger.models import Commission
from kangrow.reports import api as reports

from .builders import at, clicks, event, paid, two_apps

pytestmark = pytest.mark.django_db

MARCH_1, MARCH_7 = date(2026, 3, 1), date(2026, 3, 7)


@pytest.fixture
def w():
    w = two_apps()
    ip, mp = w["invoicepro"], w["mailpilot"]
    jl, jm, bl = w["jane_launch"], w["jane_mail"], w["bob_launch"]
    # clicks: 5 on launch and 4 on mail inside 1-7 March, two just outside
    clicks(jl, at(2, 28, 23, 59), 1)
    clicks(jl, at(3, 1, 0, 0), 3)
    clicks(jl, at(3, 2), 2)
    clicks(jm, at(3, 3), 4)
    clicks(jl, at(3, 8, 0, 0), 1)
    clicks(bl, at(3, 1), 5)  # Bob's
    # money
    assert paid(ip, jl, "cus_1", "in_1a", 4900, at(3, 2, 10)) == "processed"
    paid(ip, jl, "cus_1", "in_1b", 4900, at(3, 5, 10))  # recurring
    paid(ip, jl, "cus_2", "in_2", 10000, at(3, 3, 10))
    event(
        ip,
        "invoice.refunded",
        at(3, 4),
        customer_id="cus_2",
        invoice_id="in_2",
        amount=10000,
        currency="USD",
    )
    paid(mp, jm, "cus_3", "in_3", 2000, at(3, 3, 11))
    paid(mp, jm, "cus_4", "in_4", 1000, at(3, 4, 11))
    Commission.objects.filter(invoice_id="in_4").update(status="paid")  # settled by a payout
    paid(ip, jl, "cus_5", "in_5", 4900, at(2, 20))  # referred before the window...
    event(ip, "subscription.cancelled", at(3, 6), customer_id="cus_5")  # ...cancels inside it
    paid(ip, jl, "cus_6", "in_6", 4900, at(3, 2), email="jane@example.com")  # self-referral
    paid(ip, bl, "cus_9", "in_9", 9900, at(3, 2))  # Bob's customer
    return w


def test_totals_over_a_week_are_exact(w):
    # when Jane's stats for 1-7 March are computed
    stats = reports.get_affiliate_stats(affiliate_id=w["jane"].id, start=MARCH_1, end=MARCH_7)
    # then every figure counts only her rows inside the window
    t = stats.totals
    assert (t.clicks, t.signups, t.paying_customers, t.cancellations) == (9, 4, 4, 1)
    assert t.conversion_bps == 4444 and t.conversion_percent == "44.44 %"
    assert t.revenue == (Money(3000, "EUR"), Money(19800, "USD"))
    assert t.commissions == (
        reports.CommissionBuckets("EUR", pending=0, payable=600, paid=300),
        reports.CommissionBuckets("USD", pending=2940, payable=0, paid=0),
    )
    # EPC: 900 / 9 = 100 cents; 2940 / 9 = 326.67 -> 327 (half-up)
    assert t.epc == (Money(100, "EUR"), Money(327, "USD"))


def test_daily_series_covers_every_day_of_the_window(w):
    stats = reports.get_affiliate_stats(affiliate_id=w["jane"].id, start=MARCH_1, end=MARCH_7)
    series = [(d.day.day, d.clicks, d.signups, d.cancellations, d.commissions) for d in stats.days]
    assert series == [
        (1, 3, 0, 0, {}),
        (2, 2, 1, 0, {"USD": 1470}),
        (3, 4, 2, 0, {"USD": 3000, "EUR": 600}),
        (4, 0, 1, 0, {"EUR": 300}),
        (5, 0, 0, 0, {"USD": 1470}),
        (6, 0, 0, 1, {}),
        (7, 0, 0, 0, {}),
    ]
    assert stats.currencies == ["EUR", "USD"]


def test_per_campaign_breakdown(w):
    stats = reports.get_affiliate_stats(affiliate_id=w["jane"].id, start=MARCH_1, end=MARCH_7)
    by_name = {c.campaign_name: c for c in stats.campaigns}
    assert [c.campaign_name for c in stats.campaigns] == ["Launch", "Mail"]
    launch, mail = by_name["Launch"].totals, by_name["Mail"].totals
    assert by_name["Launch"].app_name == "InvoicePro" and by_name["Mail"].app_name == "MailPilot"
    assert (launch.clicks, launch.signups, launch.paying_customers, launch.cancellations) == (
        5,
        2,
        2,
        1,
    )
    assert launch.conversion_bps == 4000
    assert launch.revenue == (Money(19800, "USD"),)
    assert launch.commissions == (reports.CommissionBuckets("USD", pending=2940),)
    assert launch.epc == (Money(588, "USD"),)
    assert (mail.clicks, mail.signups, mail.paying_customers, mail.cancellations) == (4, 2, 2, 0)
    assert mail.commissions == (reports.CommissionBuckets("EUR", payable=600, paid=300),)


def test_campaign_filter_restricts_every_figure(w):
    stats = reports.get_affiliate_stats(
        affiliate_id=w["jane"].id,
        start=MARCH_1,
        end=MARCH_7,
        campaign_id=w["jane_mail"].campaign_id,
    )
    t = stats.totals
    assert (t.clicks, t.signups, t.paying_customers, t.cancellations) == (4, 2, 2, 0)
    assert t.revenue == (Money(3000, "EUR"),)
    assert [c.campaign_name for c in stats.campaigns] == ["Mail"]
    assert [c.label for c in stats.choices] == ["InvoicePro · Launch", "MailPilot · Mail"]


def test_window_edges_are_utc_days_inclusive(w):
    # 28 Feb 23:59 and 8 Mar 00:00 fall outside 1-7 March; a one-day window holds one day
    feb = reports.get_affiliate_stats(
        affiliate_id=w["jane"].id, start=date(2026, 2, 28), end=date(2026, 2, 28)
    )
    assert (feb.totals.clicks, len(feb.days)) == (1, 1)
    march_8 = reports.get_affiliate_stats(
        affiliate_id=w["jane"].id, start=date(2026, 3, 8), end=date(2026, 3, 8)
    )
    assert march_8.totals.clicks == 1
    feb_20 = reports.get_affiliate_stats(
        affiliate_id=w["jane"].id, start=date(2026, 2, 20), end=date(2026, 2, 20)
    )
    assert (feb_20.totals.signups, feb_20.totals.revenue) == (1, (Money(4900, "USD"),))


def test_another_affiliate_sees_only_their_own(w):
    stats = reports.get_affiliate_stats(affiliate_id=w["bob"].id, start=MARCH_1, end=MARCH_7)
    t = stats.totals
    assert (t.clicks, t.signups, t.paying_customers, t.cancellations) == (5, 1, 1, 0)
    assert t.revenue == (Money(9900, "USD"),)
    assert t.commissions == (reports.CommissionBuckets("USD", pending=2970),)
    assert [c.campaign_name for c in stats.campaigns] == ["Launch"]


def test_a_campaign_the_affiliate_has_not_joined_is_refused(w):
    with pytest.raises(reports.ReportError) as exc:
        reports.get_affiliate_stats(
            affiliate_id=w["bob"].id,
            start=MARCH_1,
            end=MARCH_7,
            campaign_id=w["jane_mail"].campaign_id,
        )
    assert (exc.value.code, exc.value.field) == ("unknown_campaign", "campaign")


@pytest.mark.parametrize(
    ("start", "end", "code"),
    [
        (date(2026, 3, 2), date(2026, 3, 1), "invalid_period"),
        (date(2024, 12, 31), date(2026, 1, 1), "period_too_long"),
    ],
)
def test_unusable_periods_are_refused(w, start, end, code):
    with pytest.raises(reports.ReportError) as exc:
        reports.get_affiliate_stats(affiliate_id=w["jane"].id, start=start, end=end)
    assert exc.value.code == code


def test_no_activity_gives_zeros_and_no_conversion(db):
    w = two_apps()
    stats = reports.get_affiliate_stats(affiliate_id=w["jane"].id, start=MARCH_1, end=MARCH_7)
    t = stats.totals
    assert (t.clicks, t.signups, t.paying_customers, t.cancellations) == (0, 0, 0, 0)
    assert (t.conversion_bps, t.conversion_percent, t.epc, t.revenue, t.commissions) == (
        None,
        "—",
        (),
        (),
        (),
    )
    assert len(stats.days) == 7 and len(stats.campaigns) == 2


def test_stats_cost_six_queries_whatever_the_volume(w, django_assert_num_queries):
    with django_assert_num_queries(6):
        reports.get_affiliate_stats(affiliate_id=w["jane"].id, start=MARCH_1, end=MARCH_7)
    ip, jl = w["invoicepro"], w["jane_launch"]
    clicks(jl, at(3, 4), 30)
    for n in range(20):
        paid(ip, jl, f"cus_bulk_{n}", f"in_bulk_{n}", 1000 + n, at(3, 4, 1, n))
    with django_assert_num_queries(6):
        stats = reports.get_affiliate_stats(affiliate_id=w["jane"].id, start=MARCH_1, end=MARCH_7)
    assert (stats.totals.clicks, stats.totals.signups) == (39, 24)
