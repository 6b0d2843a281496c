"""/dashboard/ with a read replica (kangrow.core.replica): the figures are read from the replica
and are the same; the session and the onboarding checklist stay on the primary. The test
settings' `replica` alias mirrors the test database, so the committed rows (transaction=True)
are what a caught-up replica holds."""

from __future__ import annotations

import pytest
from django.db import DEFAULT_DB_ALIAS, connections
from django.test.utils import CaptureQueriesContext

from kangrow.core.replica import REPLICA

from .test_dashboard_pages import WEEK, client_for, metric, w  # noqa: F401 - w is a fixture

pytestmark = pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA])


def sql(queries) -> str:
    return " ".join(q["sql"] for q in queries)


def test_the_dashboard_figures_come_from_the_replica(w, settings):  # noqa: F811
    # given replica reads on / when Jane opens her dashboard for a week
    settings.KANGROW_READ_REPLICA = True
    client = client_for(w["jane"])
    with (
        CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as primary,
        CaptureQueriesContext(connections[REPLICA]) as replica,
    ):
        response = client.get("/dashboard/", WEEK)
    # then the page shows her own figures, as it does from the primary
    assert response.status_code == 200
    html = response.content.decode()
    assert metric(html, "clicks") == "4"
    assert metric(html, "signups") == "2"
    assert metric(html, "pending") == "0.00 EUR 14.70 USD"
    # and every grouped figure was read from the replica
    for table in ("clicks", "referrals", "commissions", "enrollments"):
        assert f'"{table}"' in sql(replica.captured_queries), table
    for table in ("referrals", "commissions"):
        assert f'"{table}"' not in sql(primary.captured_queries), table
    assert "GROUP BY" in sql(replica.captured_queries)
    assert "GROUP BY" not in sql(primary.captured_queries)
    # while the session (and the onboarding checklist of every page) read the primary
    assert '"users_tokens"' in sql(primary.captured_queries)


def test_the_referral_table_page_reads_the_replica(w, settings):  # noqa: F811
    settings.KANGROW_READ_REPLICA = True
    client = client_for(w["jane"])
    with CaptureQueriesContext(connections[REPLICA]) as replica:
        response = client.get("/dashboard/referrals")
    assert response.status_code == 200
    assert "ol***@buyer.example" in response.content.decode()
    assert "secret@bob" not in response.content.decode()
    assert '"referrals"' in sql(replica.captured_queries)
