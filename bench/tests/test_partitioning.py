"""The monthly-partitioning path of docs/scaling.md, executed: click ids carry their time, and
the documented SQL moves generated clicks into month partitions by id with nothing lost."""

from datetime import UTC, datetime

import pytest
from django.db import connection

from bench.generate import generate
from kangrow.programs.models import Enrollment
from kangrow.tracking import api as tracking_api
from kangrow.tracking.models import Click

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
UUID7_FLOOR = """
CREATE FUNCTION pg_temp.uuid7_floor(ts timestamptz) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
  SELECT (lpad(to_hex((extract(epoch FROM ts) * 1000)::bigint), 12, '0')
          || '7000' || '8000' || '000000000000')::uuid $$
"""


@pytest.fixture
def program():
    if connection.vendor != "postgresql":
        pytest.skip("COPY and partitioning are PostgreSQL features")
    return generate(scale=0.0005, seed=5, progress=False, now=NOW, overrides={"referrals": 20})


def test_a_recorded_click_id_carries_its_time(program):
    # given a live generated link / when a visitor follows it
    enrollment = Enrollment.objects.filter(status="active").first()
    tracking_api.record_click(token=enrollment.token, ip="198.51.100.4")
    # then the click's UUIDv7 id holds the click's own time (what id-range partitions rely on)
    click = Click.objects.filter(enrollment_id=enrollment.id).order_by("-clicked_at").first()
    id_ms = click.id.int >> 80
    assert abs(id_ms - int(click.clicked_at.timestamp() * 1000)) < 1000


def test_clicks_move_into_monthly_id_partitions_without_loss(program):
    months = [(2024 + (10 + m) // 12, (10 + m) % 12 + 1) for m in range(26)]  # 2024-11..2026-12
    with connection.cursor() as cur:
        try:
            cur.execute(UUID7_FLOOR)
            cur.execute(
                "CREATE TABLE clicks_p (LIKE clicks INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
                "PARTITION BY RANGE (id)"
            )
            cur.execute("ALTER TABLE clicks_p ADD PRIMARY KEY (id)")
            cur.execute("CREATE INDEX ON clicks_p (enrollment_id, clicked_at)")
            for (y, m), (ny, nm) in zip(months, months[1:], strict=False):
                cur.execute(
                    f"CREATE TABLE clicks_{y}_{m:02d} PARTITION OF clicks_p FOR VALUES FROM "
                    f"(pg_temp.uuid7_floor('{y}-{m:02d}-01Z')) "
                    f"TO (pg_temp.uuid7_floor('{ny}-{nm:02d}-01Z'))"
                )
            cur.execute("CREATE TABLE clicks_default PARTITION OF clicks_p DEFAULT")
            # when every click is copied into the partitioned table
            cur.execute("INSERT INTO clicks_p SELECT * FROM clicks")
            # then nothing is lost, nothing lands outside its month
            cur.execute("SELECT count(*) FROM clicks_p")
            assert cur.fetchone()[0] == Click.objects.count() == 5000
            cur.execute("SELECT count(*) FROM clicks_default")
            assert cur.fetchone()[0] == 0
            cur.execute(
                "SELECT count(*) FROM clicks_p WHERE date_trunc('month', clicked_at) <> "
                "date_trunc('month', to_timestamp(((('x' || substr(replace(id::text, '-', ''), "
                "1, 12))::bit(48)::bigint) / 1000.0)))"
            )
            assert cur.fetchone()[0] == 0
            # and a month's query with the id bound reads that month's partition only
            cur.execute(
                "EXPLAIN SELECT count(*) FROM clicks_p WHERE clicked_at >= '2026-10-01Z' "
                "AND id >= pg_temp.uuid7_floor('2026-10-01Z')"
            )
            plan = "\n".join(row[0] for row in cur.fetchall())
            assert "clicks_2026_10" in plan
            assert "clicks_2026_09" not in plan and "clicks_2025_10" not in plan
        finally:
            cur.execute("DROP TABLE IF EXISTS clicks_p CASCADE")
