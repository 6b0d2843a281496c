"""CSV exports: streamed, only the affiliate's own rows, spreadsheet-formula safe."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from kangrow.reports.tests.builders import at, event, paid, two_apps
from kangrow.web.admin.testing import log_in
from kangrow.web.dashboard.csv_export import safe_cell

pytestmark = pytest.mark.django_db


@pytest.fixture
def w():
    w = two_apps()
    ip, mp = w["invoicepro"], w["mailpilot"]
    paid(ip, w["jane_launch"], "cus_1", "in_1", 4900, at(3, 2, 10), email="olivia@buyer.example")
    event(
        ip,
        "invoice.refunded",
        at(3, 3),
        customer_id="cus_1",
        invoice_id="in_1",
        amount=1000,
        currency="USD",
    )
    paid(mp, w["jane_mail"], '=HYPERLINK("http://evil")', "@SUM(1)", 2000, at(3, 5, 9), email="")
    paid(ip, w["bob_launch"], "cus_9", "in_9", 9900, at(3, 2), email="secret@bob-buyer.example")
    return w


def download(user, url: str) -> tuple[object, list[list[str]]]:
    client = Client()
    log_in(client, user)
    response = client.get(url)
    body = b"".join(response.streaming_content).decode()
    return response, list(csv.reader(io.StringIO(body)))


def test_referrals_csv_has_own_rows_masked_and_formula_safe(w):
    response, rows = download(w["jane"], "/dashboard/referrals.csv")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="kangrow-referrals-')
    assert rows[0] == [
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
    body = [r[1:] for r in rows[1:]]
    assert body == [
        [
            "'=H***@buyer.example",
            "MailPilot",
            "Mail",
            "active",
            "no",
            "coupon",
            "2026-03-05T09:00:00+00:00",
            "",
            "2026-03-05T09:00:00+00:00",
            "6.00 EUR",
        ],
        [
            "ol***@buyer.example",
            "InvoicePro",
            "Launch",
            "active",
            "no",
            "coupon",
            "2026-03-02T10:00:00+00:00",
            "",
            "2026-03-02T10:00:00+00:00",
            "11.70 USD",
        ],
    ]


def test_commissions_csv_has_own_rows_and_net_amounts(w):
    response, rows = download(w["jane"], "/dashboard/commissions.csv")
    assert response.status_code == 200
    assert rows[0] == [
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
    assert [r[1:11] for r in rows[1:]] == [
        [
            "2026-03-05T09:00:00+00:00",
            "MailPilot",
            "Mail",
            "'@SUM(1)",
            "EUR",
            "20.00",
            "30.00",
            "6.00",
            "6.00",
            "payable",
        ],
        [
            "2026-03-02T10:00:00+00:00",
            "InvoicePro",
            "Launch",
            "in_1",
            "USD",
            "49.00",
            "30.00",
            "14.70",
            "11.70",
            "pending",
        ],
    ]


def test_another_affiliate_downloads_only_theirs(w):
    _, referrals = download(w["bob"], "/dashboard/referrals.csv")
    _, commissions = download(w["bob"], "/dashboard/commissions.csv")
    assert [r[1] for r in referrals[1:]] == ["se***@bob-buyer.example"]
    assert [r[4] for r in commissions[1:]] == ["in_9"]
    everything = repr(referrals) + repr(commissions)
    assert "buyer.example" not in everything.replace("bob-buyer.example", "")
    assert "HYPERLINK" not in everything


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+33 6 12", "'+33 6 12"),
        ("-2+3", "'-2+3"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-12.50", "-12.50"),
        ("ok=1", "ok=1"),
        (None, ""),
        (42, "42"),
    ],
)
def test_safe_cell(value, expected):
    assert safe_cell(value) == expected
