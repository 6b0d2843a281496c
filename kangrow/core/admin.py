"""Admin building blocks for tables that grow to millions of rows (clicks, payment events,
commissions, ledger rows, referrals).

The stock changelist is slow there for three reasons, measured in docs/benchmarks.md:
`date_hierarchy` runs `SELECT DISTINCT date_trunc(...)` over the whole table, a `list_filter` on
a free-text column runs `SELECT DISTINCT` over it, and the paginator counts every row. Big-table
admins use `BigTableAdmin`: no date hierarchy (a date `list_filter` costs no query), filters only
on fields with choices or dates, and `EstimatedCountPaginator`."""

from __future__ import annotations

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.http import HttpRequest
from django.utils.functional import cached_property

# Below this many rows (by PostgreSQL's estimate) an exact COUNT(*) is cheap and is used.
EXACT_COUNT_UP_TO = 100_000


def estimated_rows(using: str, table: str) -> int | None:
    """PostgreSQL's planner estimate of a table's rows (None elsewhere or before ANALYZE)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)", [table]
        )
        row = cursor.fetchone()
    return row[0] if row and row[0] is not None and row[0] >= 0 else None


class EstimatedCountPaginator(Paginator):
    """Counts exactly when the list is filtered or the table is small; an unfiltered list of a
    big table is counted by the planner's estimate (the last page may then be short or empty,
    which the admin shows as an empty page, never an error)."""

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        query = getattr(queryset, "query", None)
        if query is not None and not query.where:
            estimate = estimated_rows(queryset.db, queryset.model._meta.db_table)
            if estimate is not None and estimate > EXACT_COUNT_UP_TO:
                return estimate
        return super().count


class ReadOnlyAdmin(admin.ModelAdmin):
    """Facts, not settings: nobody adds, edits or deletes rows here (corrections are actions
    that write new rows through a context's api)."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class BigTableAdmin(ReadOnlyAdmin):
    paginator = EstimatedCountPaginator
    show_full_result_count = False
