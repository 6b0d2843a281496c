"""The admin's lists of the big tables: no whole-table DISTINCT or COUNT on an unfiltered page."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from kangrow.core import admin as core_admin
from kangrow.programs import api as programs
from kangrow.programs.tests.factories import make_affiliate, make_app, make_campaign
from kangrow.tracking import api as tracking
from kangrow.tracking.models import Click

pytestmark = pytest.mark.django_db

BIG_LISTS = [
    "/admin/tracking/click/",
    "/admin/tracking/referral/",
    "/admin/ledger/paymentevent/",
    "/admin/ledger/commission/",
    "/admin/ledger/ledgerentry/",
]


@pytest.fixture
def clicks():
    make_app("invoicepro")
    make_campaign("launch", app_slug="invoicepro")
    jane = make_affiliate("jane@example.com")
    enrollment = programs.join_campaign(affiliate_id=jane.id, campaign_slug="launch")
    now = timezone.now()

    def add(n):
        for i in range(n):
            tracking.record_click(
                token=enrollment.token, ip="203.0.113.9", clicked_at=now - timedelta(minutes=i)
            )

    return add


@pytest.mark.parametrize("url", BIG_LISTS)
def test_big_lists_run_no_distinct_and_no_full_count(
    staff_client, django_assert_max_num_queries, url
):
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = staff_client.get(url)
    assert response.status_code == 200
    sql = [q["sql"].upper() for q in queries.captured_queries]
    assert not [s for s in sql if "DISTINCT" in s], (
        "a list filter or date hierarchy scans the table"
    )
    # the one COUNT is the paginator's (no second 'of N total' count)
    assert len([s for s in sql if "COUNT(" in s]) <= 1


def test_an_unfiltered_big_table_is_counted_by_the_planner_estimate(
    staff_client, clicks, monkeypatch
):
    if connection.vendor != "postgresql":
        pytest.skip("the planner's estimate is PostgreSQL's")
    clicks(5)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE clicks")
    clicks(3)  # not yet in the estimate
    monkeypatch.setattr(core_admin, "EXACT_COUNT_UP_TO", 1)

    unfiltered = staff_client.get("/admin/tracking/click/")
    filtered = staff_client.get(
        "/admin/tracking/click/", {"clicked_at__gte": "2000-01-01T00:00:00+00:00"}
    )

    assert unfiltered.context["cl"].result_count == 5  # the estimate
    assert filtered.context["cl"].result_count == 8  # exact when filtered
    assert Click.objects.count() == 8


def test_small_tables_and_sqlite_count_exactly(staff_client, clicks):
    clicks(4)
    response = staff_client.get("/admin/tracking/click/")
    assert response.context["cl"].result_count == 4
