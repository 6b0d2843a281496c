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
from kangrow.web.admin.site import admin_site

pytestmark = pytest.mark.django_db

BIG_LISTS = [
    "/admin/tracking/click/",
    "/admin/tracking/referral/",
    "/admin/ledger/paymentevent/",
    "/admin/ledger/commission/",
    "/admin/ledger/ledgerentry/",
    "/admin/ledger/ledgerclaim/",
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


def _leading_index_columns(model) -> set[str]:
    meta = model._meta
    leading = {meta.pk.column}
    leading |= {f.column for f in meta.concrete_fields if f.db_index or f.unique}
    for index in [*meta.indexes, *meta.constraints]:
        fields = getattr(index, "fields", None)
        if fields:
            leading.add(meta.get_field(fields[0].lstrip("-")).column)
    return leading


def test_every_big_list_is_ordered_by_the_leading_column_of_an_index():
    # An unfiltered page is the first 100 rows in its ordering: without an index that starts
    # with the ordering's column, PostgreSQL sorts the whole table for them (the ledger rows'
    # list, ordered by created_at, took 8-14 s at full scale).
    unindexed = []
    for model, model_admin in admin_site._registry.items():
        if not isinstance(model_admin, core_admin.BigTableAdmin):
            continue
        ordering = model_admin.ordering or model._meta.ordering or ["-pk"]
        first = ordering[0].lstrip("-")
        column = model._meta.pk.column if first == "pk" else model._meta.get_field(first).column
        if column not in _leading_index_columns(model):
            unindexed.append(f"{model._meta.label}: {ordering[0]}")
    assert unindexed == []
