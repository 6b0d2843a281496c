"""/dashboard/ and /dashboard/referrals: who may see them, what they show (exact figures from
hand-built data), HTMX partials, bad input as form errors, and a constant number of queries."""

from __future__ import annotations

import re
import uuid

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kangrow.programs.tests.factories import make_affiliate
from kangrow.reports.tests.builders import at, clicks, paid, two_apps
from kangrow.web.admin.testing import log_in

pytestmark = pytest.mark.django_db

WEEK = {"period": "custom", "start": "2026-03-01", "end": "2026-03-07"}


def client_for(user) -> Client:
    client = Client()
    log_in(client, user)
    return client


def metric(html: str, name: str) -> str:
    """The text of one metric card, tags removed and whitespace collapsed."""
    match = re.search(rf'data-metric="{name}">(.*?)</span>\s*</li>', html, re.S)
    assert match, name
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


@pytest.fixture
def w():
    w = two_apps()
    ip, mp = w["invoicepro"], w["mailpilot"]
    clicks(w["jane_launch"], at(3, 1), 3)
    clicks(w["jane_mail"], at(3, 3), 1)
    clicks(w["bob_launch"], at(3, 1), 7)
    paid(ip, w["jane_launch"], "cus_1", "in_1", 4900, at(3, 2), email="olivia@buyer.example")
    paid(mp, w["jane_mail"], "cus_2", "in_2", 2000, at(3, 3), email="noah@buyer.example")
    paid(ip, w["bob_launch"], "cus_9", "in_9", 9900, at(3, 2), email="secret@bob-buyer.example")
    return w


@pytest.mark.parametrize(
    ("who", "where"),
    [
        ("anonymous", "/accounts/log-in?next="),
        ("unapproved", "/onboarding/waiting"),
        ("unverified", "/onboarding/waiting"),
    ],
)
@pytest.mark.parametrize(
    "url",
    [
        "/dashboard/",
        "/dashboard/referrals",
        "/dashboard/referrals.csv",
        "/dashboard/commissions.csv",
    ],
)
def test_only_approved_affiliates_get_the_performance_pages(db, who, where, url):
    client = Client()
    if who == "unapproved":
        log_in(client, make_affiliate("wait@example.com", approved=False))
    elif who == "unverified":
        log_in(client, make_affiliate("new@example.com", verified=False, approved=False))
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(where)


def test_dashboard_shows_the_affiliates_own_figures_for_the_period(w):
    response = client_for(w["jane"]).get("/dashboard/", WEEK)
    assert response.status_code == 200
    html = response.content.decode()
    assert metric(html, "clicks") == "4"
    assert metric(html, "signups") == "2"
    assert metric(html, "paying") == "2"
    assert metric(html, "conversion") == "50.00 %"
    assert metric(html, "revenue") == "20.00 EUR 49.00 USD"
    assert metric(html, "pending") == "0.00 EUR 14.70 USD"
    assert metric(html, "payable") == "6.00 EUR 0.00 USD"
    assert metric(html, "epc") == "1.50 EUR 3.68 USD"
    assert metric(html, "cancellations") == "0"
    # charts: local Chart.js and Chartkick with the request's nonce, data as JSON
    nonce = response.wsgi_request.csp_nonce
    assert f'src="/static/chartkick/Chart.bundle.js" nonce="{nonce}"' in html
    assert f'src="/static/chartkick/chartkick.js" nonce="{nonce}"' in html
    assert 'id="chart-activity-data"' in html and 'id="chart-money-data"' in html
    assert '["2026-03-01", 3]' in html
    assert "InvoicePro · Launch" in html and "MailPilot · Mail" in html
    # the charts' figures also as a table, one row per day
    rows = [
        (r["day"].day, r["clicks"], r["signups"], [m.format() for m in r["money"]])
        for r in response.context["daily_rows"]
    ]
    assert rows[:3] == [
        (1, 3, 0, ["0.00 EUR", "0.00 USD"]),
        (2, 0, 1, ["0.00 EUR", "14.70 USD"]),
        (3, 1, 1, ["6.00 EUR", "0.00 USD"]),
    ]
    assert len(rows) == 7
    # nothing of Bob's
    assert "9.90" not in html and "29.70" not in html


def test_period_shortcuts_end_today(w):
    today = timezone.localdate()
    response = client_for(w["jane"]).get("/dashboard/", {"period": "7"})
    assert response.status_code == 200
    assert response.context["stats"].end == today
    assert (today - response.context["stats"].start).days == 6
    default = client_for(w["jane"]).get("/dashboard/")
    assert (default.context["stats"].end - default.context["stats"].start).days == 29


def test_campaign_filter_as_an_htmx_partial(w):
    response = client_for(w["jane"]).get(
        "/dashboard/",
        {**WEEK, "campaign": str(w["jane_mail"].campaign_id)},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html  # only the stats fragment
    assert metric(html, "clicks") == "1"
    assert metric(html, "revenue") == "20.00 EUR"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"period": "custom", "start": "2026-03-08", "end": "2026-03-01"}, "must not be after"),
        ({"period": "custom", "start": "2024-01-01", "end": "2026-03-01"}, "at most 366 days"),
        ({"period": "custom"}, "Choose the first day"),
        ({"period": "365"}, "Select a valid choice"),
        ({"period": "7", "campaign": "not-a-uuid"}, "Choose one of your campaigns"),
        ({"period": "7", "campaign": str(uuid.uuid4())}, "You have not joined this campaign"),
        ({"period": "custom", "start": "2026-03-01\x00"}, "Enter a valid date"),
    ],
)
def test_bad_filters_are_form_errors_not_500(w, params, message):
    response = client_for(w["jane"]).get("/dashboard/", params)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert response.context["stats"] is None


def test_another_affiliates_campaign_cannot_be_peeked_at(w):
    response = client_for(w["bob"]).get(
        "/dashboard/", {**WEEK, "campaign": str(w["jane_mail"].campaign_id)}
    )
    assert response.status_code == 400
    assert "You have not joined this campaign" in response.content.decode()
    assert "20.00 EUR" not in response.content.decode()


def test_referrals_table_masks_customers_and_shows_only_own(w):
    response = client_for(w["jane"]).get("/dashboard/referrals")
    assert response.status_code == 200
    html = response.content.decode()
    assert "ol***@buyer.example" in html and "no***@buyer.example" in html
    assert "olivia@buyer.example" not in html
    assert "bob-buyer" not in html
    assert "14.70 USD" in html and "6.00 EUR" in html
    assert "Page 1 of 1 · 2 referrals" in html


def test_referrals_pagination_is_an_htmx_partial(w):
    ip = w["invoicepro"]
    for n in range(30):
        paid(ip, w["jane_launch"], f"cus_p{n}", f"in_p{n}", 1000, at(4, 1, 0, n))
    client = client_for(w["jane"])
    first = client.get("/dashboard/referrals", headers={"HX-Request": "true"})
    html = first.content.decode()
    assert "<html" not in html
    assert "Page 1 of 2 · 32 referrals" in html
    assert 'hx-get="/dashboard/referrals?page=2"' in html
    second = client.get("/dashboard/referrals", {"page": "2"}, headers={"HX-Request": "true"})
    assert "Page 2 of 2 · 32 referrals" in second.content.decode()
    assert second.content.decode().count("<tr>") == 1 + 7  # header + 7 rows


@pytest.mark.parametrize("params", [{"page": "x"}, {"page": "1\x00"}, {"campaign": "nope"}])
def test_bad_referral_parameters_are_400(w, params):
    response = client_for(w["jane"]).get("/dashboard/referrals", params)
    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()


def _referrals(w, n: int) -> None:
    _referrals_from(w, 0, n)


def _referrals_from(w, first: int, last: int) -> None:
    ip, mp = w["invoicepro"], w["mailpilot"]
    for i in range(first, last):
        app, enrollment = (ip, w["jane_launch"]) if i % 2 else (mp, w["jane_mail"])
        paid(app, enrollment, f"cus_q{i}", f"in_q{i}", 1000 + i, at(3, 4, 0, i % 60))
        clicks(enrollment, at(3, 4), 1)


@pytest.mark.parametrize("url", ["/dashboard/", "/dashboard/referrals"])
def test_query_count_does_not_grow_with_rows(w, url, django_assert_max_num_queries):
    # given a logged-in affiliate whose pages were rendered once (header state settled)
    client = client_for(w["jane"])
    assert client.get(url, WEEK).status_code == 200
    # and 5 referrals, each with a paid invoice and a click
    _referrals(w, 5)
    with CaptureQueriesContext(connection) as five:
        assert client.get(url, WEEK).status_code == 200
    # when there are 50 more referrals
    _referrals_from(w, 5, 55)
    # then the page costs no more queries than with 5
    with django_assert_max_num_queries(len(five.captured_queries)):
        response = client.get(url, WEEK)
    assert response.status_code == 200
    html = response.content.decode()
    if url == "/dashboard/":
        assert metric(html, "signups") == "57"
    else:
        assert "Page 1 of 3 · 57 referrals" in html
