"""Referral rows and commission rows of the reports api: masked, scoped, paged."""

from __future__ import annotations

import pytest

from kangrow.core.money import Money
from kangrow.reports import api as reports

from .builders import at, event, paid, two_apps

pytestmark = pytest.mark.django_db


@pytest.fixture
def w():
    w = two_apps()
    ip, mp = w["invoicepro"], w["mailpilot"]
    paid(ip, w["jane_launch"], "cus_1", "in_1a", 4900, at(3, 2), email="olivia.smith@buyer.example")
    paid(ip, w["jane_launch"], "cus_1", "in_1b", 4900, at(4, 2), email="olivia.smith@buyer.example")
    event(
        ip,
        "invoice.refunded",
        at(4, 3),
        customer_id="cus_1",
        invoice_id="in_1b",
        amount=1000,
        currency="USD",
    )
    paid(mp, w["jane_mail"], "cus_2", "in_2", 2000, at(3, 5), email="noah@buyer.example")
    event(ip, "subscription.cancelled", at(4, 10), customer_id="cus_1")
    paid(ip, w["bob_launch"], "cus_9", "in_9", 9900, at(3, 2), email="secret@bob-buyer.example")
    return w


def test_referral_page_rows_are_masked_with_status_first_paid_and_net_total(w):
    page = reports.list_referrals_page(affiliate_id=w["jane"].id, page=1, per_page=10)
    assert (page.total, page.pages, page.has_previous, page.has_next) == (2, 1, False, False)
    newest, oldest = page.rows
    assert (newest.customer, newest.app_name, newest.campaign_name, newest.status) == (
        "no***@buyer.example",
        "MailPilot",
        "Mail",
        "active",
    )
    assert newest.commission_total == (Money(600, "EUR"),)
    assert (oldest.customer, oldest.status, oldest.cancelled_at) == (
        "ol***@buyer.example",
        "cancelled",
        at(4, 10),
    )
    assert oldest.first_paid_at == at(3, 2)
    # 1470 + 1470 - 300 (30 % of the 10.00 refund)
    assert oldest.commission_total == (Money(2640, "USD"),)


def test_referral_pages_split_and_never_show_another_affiliates_customer(w):
    first = reports.list_referrals_page(affiliate_id=w["jane"].id, page=1, per_page=1)
    second = reports.list_referrals_page(affiliate_id=w["jane"].id, page=2, per_page=1)
    assert (first.pages, first.has_next, second.has_previous, second.has_next) == (
        2,
        True,
        True,
        False,
    )
    assert [r.customer for r in first.rows + second.rows] == [
        "no***@buyer.example",
        "ol***@buyer.example",
    ]
    every = [r.customer for r in reports.iter_referral_rows(affiliate_id=w["jane"].id)]
    assert every == ["no***@buyer.example", "ol***@buyer.example"]
    bob = reports.list_referrals_page(affiliate_id=w["bob"].id)
    assert [r.customer for r in bob.rows] == ["se***@bob-buyer.example"]


def test_campaign_filter_on_referrals(w):
    page = reports.list_referrals_page(
        affiliate_id=w["jane"].id, campaign_id=w["jane_launch"].campaign_id
    )
    assert [r.campaign_name for r in page.rows] == ["Launch"]


def test_commission_rows_newest_first_with_net_after_refunds(w):
    rows = list(reports.iter_commission_rows(affiliate_id=w["jane"].id))
    assert [(r.invoice_id, r.amount, r.net_amount, r.campaign_name) for r in rows] == [
        ("in_1b", Money(1470, "USD"), Money(1170, "USD"), "Launch"),
        ("in_2", Money(600, "EUR"), Money(600, "EUR"), "Mail"),
        ("in_1a", Money(1470, "USD"), Money(1470, "USD"), "Launch"),
    ]
    assert [r.invoice_id for r in reports.iter_commission_rows(affiliate_id=w["bob"].id)] == [
        "in_9"
    ]
