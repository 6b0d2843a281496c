"""Dashboard reads on the read replica (kangrow.core.replica): where each read and write goes,
the same figures from either database, and a failing replica costing a retry on the primary,
never an error. The test settings' `replica` alias mirrors the test database, so committed rows
(transaction=True) are what a caught-up replica would hold."""

from __future__ import annotations

import logging
from datetime import date

import pytest
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections
from django.test.utils import CaptureQueriesContext

from kangrow.core.replica import REPLICA, ReplicaRouter, replica_reads
from kangrow.ledger.models import Commission
from kangrow.programs.models import App
from kangrow.reports import api as reports

from .builders import at, clicks, paid, two_apps

pytestmark = pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA])

MARCH_1, MARCH_7 = date(2026, 3, 1), date(2026, 3, 7)


@pytest.fixture
def w():
    w = two_apps()
    clicks(w["jane_launch"], at(3, 1), 3)
    clicks(w["bob_launch"], at(3, 1), 7)
    paid(w["invoicepro"], w["jane_launch"], "cus_1", "in_1", 4900, at(3, 2))
    paid(w["invoicepro"], w["bob_launch"], "cus_9", "in_9", 9900, at(3, 2))
    return w


@pytest.fixture
def replica_on(settings):
    settings.KANGROW_READ_REPLICA = True


def stats(w):
    return reports.get_affiliate_stats(affiliate_id=w["jane"].id, start=MARCH_1, end=MARCH_7)


def tables(queries) -> str:
    return " ".join(q["sql"] for q in queries)


def test_the_replica_gives_the_same_figures_as_the_primary(w, settings):
    on_primary = stats(w)
    settings.KANGROW_READ_REPLICA = True
    with CaptureQueriesContext(connections[REPLICA]) as replica:
        on_replica = stats(w)
    assert len(replica.captured_queries) >= 5
    assert on_replica == on_primary
    assert on_replica.totals.clicks == 3 and on_replica.totals.signups == 1


def test_the_referral_table_reads_the_replica(w, replica_on):
    with CaptureQueriesContext(connections[REPLICA]) as replica:
        page = reports.list_referrals_page(affiliate_id=w["jane"].id)
    assert [r.customer for r in page.rows] == ["cu***@buyer.example"]
    assert '"referrals"' in tables(replica.captured_queries)


def test_a_failing_replica_costs_a_retry_on_the_primary(w, replica_on, monkeypatch, caplog):
    expected = stats(w)
    # given a replica that refuses connections (down, restarting, cancelled by replication)
    connections[REPLICA].close()

    def down() -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr(connections[REPLICA], "ensure_connection", down)
    # when the dashboard figures are read / then they come from the primary, with a warning
    with caplog.at_level(logging.WARNING, logger="kangrow.core.replica"):
        assert stats(w) == expected
    assert "reading the primary" in caplog.text


def test_a_refused_period_raises_as_it_does_without_a_replica(w, replica_on):
    with pytest.raises(reports.ReportError) as refused:
        reports.get_affiliate_stats(affiliate_id=w["jane"].id, start=MARCH_7, end=MARCH_1)
    assert refused.value.code == "invalid_period"


def test_replica_reads_are_off_without_a_replica(w):
    with CaptureQueriesContext(connections[REPLICA]) as replica:
        assert stats(w).totals.clicks == 3
    assert replica.captured_queries == []


def test_writes_and_other_reads_stay_on_the_primary(w, replica_on):
    with replica_reads():
        app = App.objects.get(id=w["invoicepro"].id)  # a read inside the block: the replica
        assert app._state.db == REPLICA
        app.name = "InvoicePro 2"
        app.save(update_fields=["name"])  # saved on the primary all the same
        assert Commission.objects.using(DEFAULT_DB_ALIAS).count() == 2
    assert App.objects.get(id=app.id).name == "InvoicePro 2"
    assert App.objects.get(id=app.id)._state.db == DEFAULT_DB_ALIAS  # outside: the primary
    router = ReplicaRouter()
    assert router.db_for_write(App) == DEFAULT_DB_ALIAS
    assert router.allow_migrate(REPLICA, "programs") is False
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "programs") is None
