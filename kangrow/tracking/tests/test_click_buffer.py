"""Clicks through the Redis buffer (REDIS_URL set): the request only appends (one XADD, or a
queue that a thread per process sends in batches), the drain task writes them once, and Redis
failing falls back to a direct insert."""

import io
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
import redis
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone
from uuid_utils.compat import uuid7

from kangrow.core.testing import run_at_once
from kangrow.programs import api as programs
from kangrow.tracking import api, buffer, tasks
from kangrow.tracking.models import Click, Referral

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1: refused at once


def follow(enrollment, **query):
    return Client().get(
        f"/r/{enrollment.token}",
        query,
        HTTP_USER_AGENT="Mozilla/5.0 test",
        HTTP_REFERER="https://blog.example/post",
        REMOTE_ADDR="198.51.100.7",
    )


# --- with a real Redis -------------------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_click_waits_in_redis_and_the_drain_task_writes_it_whole(click_buffer, enrollment):
    # when a visitor follows a live link with the buffer on
    before = timezone.now()
    response = follow(enrollment, utm_source="newsletter", utm_medium="email")
    # then the visitor is redirected at once, and the click waits in Redis, not in the table
    assert response.status_code == 302
    assert Click.objects.count() == 0
    assert api.pending_clicks() == 1
    # when the beat task runs
    assert tasks.drain_clicks.apply().get() == 1
    # then the click is in the table with everything the request knew, and Redis is empty
    click = Click.objects.get()
    assert api.pending_clicks() == 0
    assert (click.enrollment_id, click.campaign_id, click.app_id) == (
        enrollment.id,
        enrollment.campaign_id,
        enrollment.app_id,
    )
    assert (click.user_agent, click.referrer, click.utm_source, click.utm_medium) == (
        "Mozilla/5.0 test",
        "https://blog.example/post",
        "newsletter",
        "email",
    )
    assert (click.utm_campaign, click.utm_term, click.utm_content) == ("", "", "")
    assert click.ip_hash == api.hash_ip("198.51.100.7")
    assert click.landing_url == response["Location"]
    assert before <= click.clicked_at <= timezone.now()
    assert abs((click.id.int >> 80) - int(click.clicked_at.timestamp() * 1000)) < 1000  # UUIDv7
    # and the dashboards count it
    assert api.count_clicks(enrollment_ids=[enrollment.id]) == 1


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_draining_twice_or_the_same_entries_again_never_duplicates(
    click_buffer, enrollment, caplog
):
    caplog.set_level("INFO", logger="kangrow.tracking.api")
    for _ in range(3):
        follow(enrollment)
    assert api.drain_click_buffer() == 3
    assert api.drain_click_buffer() == 0  # nothing left: nothing written
    assert "already written" not in caplog.text
    # a crash between commit and delete leaves committed clicks in the stream: the same
    # entries drained again are skipped by id, among new ones (the drain's COPY meets them and
    # falls back to the insert that skips them)
    for row in Click.objects.values_list(*api.CLICK_COLUMNS):
        assert buffer.append(row)
    follow(enrollment)
    assert api.pending_clicks() == 4
    assert api.drain_click_buffer() == 4
    assert Click.objects.count() == 4
    assert api.pending_clicks() == 0
    if connection.vendor == "postgresql":
        assert "clicks already written among 4" in caplog.text


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_drain_that_fails_after_its_commit_is_completed_by_the_next(
    click_buffer, enrollment, monkeypatch
):
    for _ in range(5):
        follow(enrollment)
    real_xdel = redis.Redis.xdel

    def failing_xdel(self, *args):
        raise redis.ConnectionError("Redis went away after the commit")

    monkeypatch.setattr(redis.Redis, "xdel", failing_xdel)
    assert api.drain_click_buffer() == 5  # the failed delete is logged, not raised
    # the rows are committed but still in the stream
    assert Click.objects.count() == 5
    assert api.pending_clicks() == 5
    monkeypatch.setattr(redis.Redis, "xdel", real_xdel)
    assert api.drain_click_buffer() == 5
    assert Click.objects.count() == 5
    assert api.pending_clicks() == 0


def write_failing_at(monkeypatch, call: int, error: Exception) -> list[int]:
    """The drain's table insert raising `error` on its `call`-th call (1 for the first);
    returns the sizes of the batches it was given."""
    real = api._write_clicks
    sizes: list[int] = []

    def write(rows):
        sizes.append(len(rows))
        if len(sizes) == call:
            raise error
        real(rows)

    monkeypatch.setattr(api, "_write_clicks", write)
    return sizes


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_batch_that_fails_to_insert_stays_in_redis(click_buffer, enrollment, monkeypatch):
    for _ in range(5):
        follow(enrollment)
    real_write = api._write_clicks
    write_failing_at(monkeypatch, 2, RuntimeError("database went away"))
    with pytest.raises(RuntimeError):
        api.drain_click_buffer(batch_size=2)
    # the first batch is in, the rest still waits
    assert Click.objects.count() == 2
    assert api.pending_clicks() == 3
    monkeypatch.setattr(api, "_write_clicks", real_write)
    assert api.drain_click_buffer(batch_size=2) == 3
    assert Click.objects.count() == 5
    assert len(set(Click.objects.values_list("id", flat=True))) == 5


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_only_one_drain_runs_at_a_time(click_buffer, enrollment):
    follow(enrollment)
    held = click_buffer.lock(buffer.DRAIN_LOCK, timeout=30)
    assert held.acquire(blocking=False)
    try:
        assert api.drain_click_buffer() == 0  # another drain holds the lock: leave it
        assert api.pending_clicks() == 1
    finally:
        held.release()
    assert api.drain_click_buffer() == 1


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_an_unreadable_entry_is_set_aside_and_does_not_block_the_rest(click_buffer, enrollment):
    click_buffer.xadd(buffer.STREAM, {buffer.FIELD: "not json"})
    click_buffer.xadd(buffer.STREAM, {buffer.FIELD: '[1,"too","short"]'})  # a wrong shape
    good = buffer.as_text(click_row(enrollment))
    click_buffer.xadd(buffer.STREAM, {buffer.FIELD: json.dumps([2, good, ["short"]])})
    click_buffer.xadd(buffer.STREAM, {buffer.FIELD: json.dumps([3, good])})  # a later version
    follow(enrollment)
    assert api.drain_click_buffer() == 5
    assert Click.objects.count() == 1
    assert api.pending_clicks() == 0
    # kept whole in the dead-letter stream for a person, not lost
    assert click_buffer.xlen(buffer.DEAD_STREAM) == 4


def click_row(enrollment, *, clicked_at=None) -> tuple:
    """A click row as record_click makes it (CLICK_COLUMNS order)."""
    at = clicked_at or timezone.now()
    return (uuid7(), enrollment.id, enrollment.campaign_id, enrollment.app_id, at,
            api.hash_ip("198.51.100.7"), "Mozilla/5.0 test", "", "https://app.example/?ref=x",
            "", "", "", "", "")  # fmt: skip


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_entries_of_the_release_before_one_click_each_are_still_drained(click_buffer, enrollment):
    row = buffer.as_text(click_row(enrollment))
    click_buffer.xadd(buffer.STREAM, {buffer.FIELD: json.dumps([1, *row])})
    assert api.pending_clicks() == 1
    assert buffer.has_click(
        enrollment_id=str(enrollment.id),
        since=timezone.now() - timedelta(minutes=1),
        until=timezone.now(),
    )
    assert api.drain_click_buffer() == 1
    assert table_ids() == [row[0]]


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_entries_hold_several_clicks_and_are_read_page_by_page(
    click_buffer, enrollment, monkeypatch
):
    monkeypatch.setattr(buffer, "FIRST_PAGE", 2)
    monkeypatch.setattr(buffer, "MAX_PAGE", 2)
    # four entries of old clicks, then one whose last click is recent
    old = timezone.now() - timedelta(hours=1)
    for _ in range(4):
        rows = [click_row(enrollment, clicked_at=old) for _ in range(3)]
        click_buffer.xadd(buffer.STREAM, buffer.entry(rows))
    recent = click_row(enrollment)
    click_buffer.xadd(buffer.STREAM, buffer.entry([click_row(enrollment, clicked_at=old), recent]))
    assert api.pending_clicks() == 14
    # attribution reads past the first pages to the recent click
    assert buffer.has_click(
        enrollment_id=str(enrollment.id),
        since=timezone.now() - timedelta(minutes=1),
        until=timezone.now(),
    )
    assert not buffer.has_click(  # another enrollment: no click of its own in the window
        enrollment_id=str(uuid7()),
        since=timezone.now() - timedelta(minutes=1),
        until=timezone.now(),
    )
    # the drain takes whole entries until a batch has batch_size clicks: 3+3, 3+3, then 2
    batches = []
    real_write = api._write_clicks
    monkeypatch.setattr(api, "_write_clicks", lambda rows: [batches.append(len(rows)),
                                                             real_write(rows)])  # fmt: skip
    assert api.drain_click_buffer(batch_size=5) == 14
    assert batches == [6, 6, 2]
    assert len(set(table_ids())) == 14
    assert api.pending_clicks() == 0


def set_aside_by_an_older_drain(client, enrollment) -> list[tuple]:
    """What a previous release's drain sets aside during a rolling deploy: this release's
    entries (the last click already in the table) next to one that nobody reads."""
    new = [click_row(enrollment) for _ in range(3)]
    client.xadd(buffer.DEAD_STREAM, buffer.entry(new[:2]))
    client.xadd(buffer.DEAD_STREAM, {buffer.FIELD: "not json"})
    client.xadd(buffer.DEAD_STREAM, buffer.entry(new[2:]))
    api._write_clicks([buffer.as_text(new[2])])
    return new


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_the_next_drain_writes_what_an_older_drain_set_aside(click_buffer, enrollment):
    new = set_aside_by_an_older_drain(click_buffer, enrollment)
    follow(enrollment)
    # when this release's drain runs
    assert api.drain_click_buffer() == 1 + 3
    # then each click is in the table once, and only the unreadable entry is left
    assert len(table_ids()) == 4
    assert {str(row[0]) for row in new} <= set(table_ids())
    assert [f for _, f in click_buffer.xrange(buffer.DEAD_STREAM)] == [{b"c": b"not json"}]
    # and later drains do not read the dead-letter stream again from its start
    assert click_buffer.get(buffer.DEAD_SEEN)
    assert api.drain_click_buffer() == 0
    click_buffer.xadd(buffer.DEAD_STREAM, buffer.entry([click_row(enrollment)]))
    assert api.drain_click_buffer() == 1
    assert Click.objects.count() == 5


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_an_operator_replays_every_entry_set_aside_page_by_page(
    click_buffer, enrollment, monkeypatch
):
    monkeypatch.setattr(buffer, "FIRST_PAGE", 2)
    new = set_aside_by_an_older_drain(click_buffer, enrollment)
    more = [click_row(enrollment) for _ in range(4)]
    for row in more:  # more pages of them
        click_buffer.xadd(buffer.DEAD_STREAM, buffer.entry([row]))
    # a drain already went past them (e.g. their rows were refused then)
    click_buffer.set(buffer.DEAD_SEEN, "+")
    assert api.drain_click_buffer() == 0
    out = io.StringIO()
    call_command("replay_dead_clicks", stdout=out)
    assert "7 click(s) written" in out.getvalue()
    assert "1 entry left in it (unreadable)" in out.getvalue()
    assert sorted(table_ids()) == sorted(str(row[0]) for row in new + more)
    assert click_buffer.xlen(buffer.DEAD_STREAM) == 1
    call_command("replay_dead_clicks", stdout=out)
    assert Click.objects.count() == 7


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_rows_the_database_refuses_stay_set_aside_and_the_rest_is_written(
    click_buffer, enrollment, monkeypatch
):
    monkeypatch.setattr(buffer, "FIRST_PAGE", 1)
    bad = list(buffer.as_text(click_row(enrollment)))
    bad[4] = "not a time"  # valid JSON, refused by the database
    click_buffer.xadd(buffer.DEAD_STREAM, {buffer.FIELD: json.dumps([2, bad])})
    good = click_row(enrollment)
    click_buffer.xadd(buffer.DEAD_STREAM, buffer.entry([good]))
    # a drain writes what the database takes and goes past the rest, which stays set aside
    assert api.drain_click_buffer() == 1
    assert table_ids() == [str(good[0])]
    assert click_buffer.xlen(buffer.DEAD_STREAM) == 1
    assert api.drain_click_buffer() == 0  # not tried again by every drain
    # the operator's replay tries it again and counts it as left
    assert api.replay_dead_clicks() == (0, 1)
    assert click_buffer.xlen(buffer.DEAD_STREAM) == 1


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_database_failing_for_a_moment_leaves_the_replay_to_the_next_drain(
    click_buffer, enrollment, monkeypatch
):
    from django.db import OperationalError

    rows = [click_row(enrollment) for _ in range(2)]
    click_buffer.xadd(buffer.DEAD_STREAM, buffer.entry(rows))
    calls = write_failing_at(monkeypatch, 1, OperationalError("server closed the connection"))
    assert api.drain_click_buffer() == 0
    assert click_buffer.get(buffer.DEAD_SEEN) is None  # the cursor did not move past them
    assert api.drain_click_buffer() == 2
    assert calls == [2, 2]
    assert sorted(table_ids()) == sorted(str(row[0]) for row in rows)
    assert click_buffer.xlen(buffer.DEAD_STREAM) == 0


def test_without_the_buffer_there_is_nothing_to_replay(settings):
    settings.REDIS_URL = ""
    out = io.StringIO()
    call_command("replay_dead_clicks", stdout=out)
    assert "The click buffer is off" in out.getvalue()


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_drain_in_a_callers_transaction_skips_known_ids_and_deletes_at_commit(
    click_buffer, enrollment
):
    follow(enrollment)
    api.drain_click_buffer()
    for row in Click.objects.values_list(*api.CLICK_COLUMNS):
        assert buffer.append(row)  # drained again: its COPY meets the id
    follow(enrollment)
    with transaction.atomic():
        assert api.drain_click_buffer() == 2
        assert api.pending_clicks() == 2  # still in Redis until the commit
    assert api.pending_clicks() == 0
    assert Click.objects.count() == 2


def test_a_batch_of_long_rows_is_split_into_entries_of_bounded_size(enrollment):
    rows = [click_row(enrollment) for _ in range(40)]
    long = [(*row[:6], "x" * 512, "y" * 1000, "z" * 2000, *row[9:]) for row in rows]
    assert [f[buffer.COUNT_FIELD] for f in buffer.entries(rows)] == [40]  # short: one entry
    # with the long ones (~3.6 KB each) the batch is more than ENTRY_BYTES: several entries
    fields = list(buffer.entries(rows + long))
    assert all(len(f[buffer.FIELD]) <= buffer.ENTRY_BYTES for f in fields)
    assert len(fields) > 2
    decoded = [row for f in fields for row in buffer.decode({b"c": f[buffer.FIELD].encode()})]
    assert decoded == [buffer.as_text(row) for row in rows + long]


@pytest.mark.redis
def test_pages_grow_to_about_page_bytes_when_entries_are_small(
    click_buffer, enrollment, monkeypatch
):
    at = timezone.now().replace(microsecond=1)
    one = buffer.entry([click_row(enrollment, clicked_at=at)])
    monkeypatch.setattr(buffer, "FIRST_PAGE", 2)
    monkeypatch.setattr(buffer, "PAGE_BYTES", 10 * len(one[buffer.FIELD]))
    for _ in range(30):
        click_buffer.xadd(buffer.STREAM, buffer.entry([click_row(enrollment, clicked_at=at)]))
    assert [len(page) for page in buffer._pages(click_buffer, "-")] == [2, 10, 10, 8]
    monkeypatch.setattr(buffer, "MAX_PAGE", 4)
    assert [len(page) for page in buffer._pages(click_buffer, "-")] == [2, 4, 4, 4, 4, 4, 4, 4]


def test_the_buffer_knows_the_width_of_a_click_row():
    assert len(api.CLICK_COLUMNS) == buffer.COLUMNS


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("token", ["unknownToken123", "x" * 5000, "a b"])
def test_unknown_tokens_buffer_nothing(click_buffer, settings, token):
    cache.clear()
    settings.KANGROW_BASE_URL = "https://kangrow.example"
    response = Client().get(f"/r/{token}")
    assert response.status_code == 302
    assert response["Location"] == "https://kangrow.example/"
    assert api.pending_clicks() == 0
    assert api.drain_click_buffer() == 0
    assert Click.objects.count() == 0


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_inactive_links_buffer_nothing(click_buffer, enrollment):
    programs.upsert_campaign(slug="launch", app_slug="invoicepro", fields={"status": "paused"})
    response = follow(enrollment)
    assert response["Location"] == "https://invoicepro.example/"
    programs.upsert_campaign(slug="launch", app_slug="invoicepro", fields={"status": "active"})
    programs.leave_campaign(affiliate_id=enrollment.affiliate_id, campaign_slug="launch")
    response = follow(enrollment)
    assert response["Location"] == "https://invoicepro.example/"
    assert api.pending_clicks() == 0
    assert Click.objects.count() == 0


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_signup_right_after_a_buffered_click_is_attributed(click_buffer, enrollment):
    # given a click still waiting in Redis (the beat task has not run yet)
    follow(enrollment)
    assert Click.objects.count() == 0
    # when the app reports the customer with the link's ref a moment later
    referral = api.attribute_customer(
        app_id=enrollment.app_id,
        customer_id="cus_1",
        ref=enrollment.token,
        occurred_at=timezone.now() + timedelta(seconds=1),
    )
    # then attribution found the click in the buffer (without writing it from here)
    assert referral is not None and referral.attributed_by == "ref"
    assert Referral.objects.count() == 1
    assert api.pending_clicks() == 1
    # and a click of another enrollment, or outside the window, does not attribute
    assert (
        api.attribute_customer(
            app_id=enrollment.app_id,
            customer_id="cus_2",
            ref=enrollment.token,
            occurred_at=timezone.now() - timedelta(days=1),  # before the click
        )
        is None
    )


@pytest.mark.django_db(transaction=True)
def test_redis_down_attribution_reads_the_table_only(enrollment, redis_down):
    api.record_click(token=enrollment.token, ip="203.0.113.9")  # inserted directly
    referral = api.attribute_customer(
        app_id=enrollment.app_id,
        customer_id="cus_1",
        ref=enrollment.token,
        occurred_at=timezone.now() + timedelta(seconds=1),
    )
    assert referral is not None and referral.attributed_by == "ref"
    assert (
        api.attribute_customer(
            app_id=enrollment.app_id,
            customer_id="cus_2",
            ref="unknownToken123",
            occurred_at=timezone.now(),
        )
        is None
    )


# --- Redis failing -----------------------------------------------------------------------------


@pytest.fixture
def redis_down(settings):
    settings.REDIS_URL = DEAD_REDIS
    settings.KANGROW_CLICK_BUFFER = True
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": DEAD_REDIS,
            "OPTIONS": {"socket_timeout": 0.2, "socket_connect_timeout": 0.2},
        }
    }
    buffer._down_until = 0.0
    yield
    buffer._down_until = 0.0


@pytest.mark.django_db(transaction=True)
def test_redis_down_the_click_is_inserted_and_the_visitor_redirected(enrollment, redis_down):
    response = follow(enrollment, utm_source="newsletter")
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert dict(parse_qsl(location.query)) == {
        "plan": "pro",
        "utm_source": "newsletter",
        "ref": enrollment.token,
    }
    click = Click.objects.get()
    assert click.landing_url == response["Location"]
    assert click.ip_hash == api.hash_ip("198.51.100.7")
    # the next clicks skip Redis for a few seconds and are inserted too
    follow(enrollment)
    assert Click.objects.count() == 2


def test_redis_down_inside_a_transaction_uses_a_plain_insert(enrollment, redis_down):
    # (pytest's transaction around the test: the relaxed commit must not touch it)
    api.record_click(token=enrollment.token, ip="203.0.113.9")
    assert Click.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_direct_insert_relaxes_only_its_own_commit(enrollment):
    if connection.vendor != "postgresql":
        pytest.skip("synchronous_commit is PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO on")
    api.record_click(token=enrollment.token, ip="203.0.113.9")
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
        cursor.execute("RESET synchronous_commit")
    assert Click.objects.count() == 1


# --- batching: the request queues, one thread per process sends ------------------------------


def eventually(check, *, timeout: float = 15.0, what: str = "the condition"):
    """Poll `check()` until it is truthy, for at most `timeout` seconds (never a fixed sleep,
    never a duration asserted)."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not true after {timeout:.0f} s")
        time.sleep(0.02)
    return value


@pytest.fixture
def click_batch(click_buffer, settings):
    """Batching on, with an interval no test waits out: queued clicks leave on flush(), at
    BATCH_ROWS, or when the sender stops. The sender is stopped after the test."""
    buffer.stop()
    settings.KANGROW_CLICK_BATCH_MS = 60_000
    yield click_buffer
    assert buffer.stop()
    buffer._down_until = 0.0


def stream_rows(client) -> list[list[str]]:
    return [row for _, fields in client.xrange(buffer.STREAM) for row in buffer.decode(fields)]


def stream_ids(client) -> list[str]:
    return [row[0] for row in stream_rows(client)]


def table_ids() -> list[str]:
    return [str(i) for i in Click.objects.values_list("id", flat=True)]


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_batched_click_is_queued_sent_by_the_flush_and_drained_once(
    click_batch, enrollment, monkeypatch
):
    def no_network(*args, **kwargs):
        raise AssertionError("the request talked to Redis")

    monkeypatch.setattr(buffer, "request_client", no_network)
    # when a visitor follows a live link with batching on
    response = follow(enrollment, utm_source="newsletter")
    # then the request only queued the click: nothing in Redis, nothing in the table
    assert response.status_code == 302
    assert buffer.in_stream() == 0
    assert buffer.queued() == 1
    assert api.pending_clicks() == 1
    assert Click.objects.count() == 0
    # when the queue is flushed, the click is one entry of the stream, which attribution reads
    assert buffer.flush()
    assert buffer.queued() == 0
    [sent] = stream_ids(click_batch)
    assert buffer.has_click(
        enrollment_id=str(enrollment.id),
        since=timezone.now() - timedelta(minutes=1),
        until=timezone.now(),
    )
    # and the drain writes it once, whole
    assert api.drain_click_buffer() == 1
    assert api.drain_click_buffer() == 0
    click = Click.objects.get()
    assert str(click.id) == sent
    assert (click.enrollment_id, click.utm_source, click.user_agent) == (
        enrollment.id,
        "newsletter",
        "Mozilla/5.0 test",
    )
    assert click.landing_url == response["Location"]
    assert click.ip_hash == api.hash_ip("198.51.100.7")
    assert api.pending_clicks() == 0


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_batch_is_one_stream_entry_and_a_backlog_several(click_batch, enrollment, monkeypatch):
    for _ in range(3):
        follow(enrollment)
    assert buffer.flush()
    assert click_batch.xlen(buffer.STREAM) == 1  # one entry, one XADD
    assert buffer.in_stream() == 3
    # a backlog bigger than an entry holds leaves as several entries, in one round trip
    monkeypatch.setattr(buffer, "ENTRY_ROWS", 2)
    for _ in range(5):
        follow(enrollment)
    assert buffer.flush()
    counts = [int(f[b"n"]) for _, f in click_batch.xrange(buffer.STREAM)]
    assert counts == [3, 2, 2, 1]
    ids = stream_ids(click_batch)
    assert len(set(ids)) == 8
    assert api.drain_click_buffer() == 8
    assert sorted(table_ids()) == sorted(ids)


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_the_drain_sends_this_process_queue_first(click_batch, enrollment):
    follow(enrollment)
    follow(enrollment)
    assert api.drain_click_buffer() == 2
    assert Click.objects.count() == 2


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_with_a_short_interval_clicks_reach_redis_without_a_flush(
    click_batch, enrollment, settings
):
    settings.KANGROW_CLICK_BATCH_MS = 20
    follow(enrollment)
    eventually(lambda: buffer.in_stream() == 1, what="the click in the stream")
    follow(enrollment)  # the sender waits for the next one
    eventually(lambda: buffer.in_stream() == 2, what="both clicks in the stream")
    assert buffer.queued() == 0


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_clicks_from_many_threads_arrive_exactly_once(click_batch, enrollment, monkeypatch):
    # small batches, so the sender sends while the threads still queue
    monkeypatch.setattr(buffer, "BATCH_ROWS", 50)
    monkeypatch.setattr(buffer, "PIPELINE_ROWS", 64)
    programs.resolve_link(token=enrollment.token)  # the link in memory: no query per thread

    def visitor(k: int):
        return lambda: [api.record_click(token=enrollment.token, ip=f"198.51.100.{k}")
                        for _ in range(250)]  # fmt: skip

    outcomes = run_at_once(*(visitor(k) for k in range(8)))
    assert outcomes.errors == []
    assert buffer.flush()
    ids = stream_ids(click_batch)
    assert len(ids) == len(set(ids)) == 2000
    assert api.drain_click_buffer() == 2000
    assert sorted(table_ids()) == sorted(ids)
    assert api.pending_clicks() == 0


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_full_queue_makes_the_request_send_its_click_itself(click_batch, enrollment, monkeypatch):
    monkeypatch.setattr(buffer, "MAX_QUEUED", 2)
    for _ in range(3):
        assert follow(enrollment).status_code == 302
    # two clicks queued, the third XADDed by its request
    assert buffer.queued() == 2
    assert buffer.in_stream() == 1
    assert buffer.flush()
    assert api.drain_click_buffer() == 3
    assert len(set(table_ids())) == 3


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_process_with_the_parents_sender_starts_its_own(click_batch, enrollment):
    # given a sender running in this process
    follow(enrollment)
    first = buffer._sender
    assert first is not None and first.thread.is_alive()
    # when the process finds it was made by another pid (inherited by a fork)
    first.pid = -1
    follow(enrollment)
    # then the click went to a new sender with a thread of its own
    second = buffer._sender
    assert second is not first and second.pid == os.getpid()
    assert second.thread.is_alive() and second.thread is not first.thread
    # (here the old thread still ran, so it sent its queue and ended; after a real fork it is
    # not there, and its queue was the parent's to send)
    first.thread.join(timeout=15)
    assert not first.thread.is_alive()
    assert buffer.flush()
    assert api.drain_click_buffer() == 2
    assert Click.objects.count() == 2


# --- batching with Redis failing ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_redis_down_the_sender_writes_the_batch_into_the_table(enrollment, redis_down, settings):
    settings.KANGROW_CLICK_BATCH_MS = 60_000
    try:
        for _ in range(5):
            assert follow(enrollment).status_code == 302
        assert Click.objects.count() == 0  # queued: the requests wrote nothing
        assert buffer.flush()
        ids = table_ids()
        assert len(ids) == len(set(ids)) == 5
        # the next batch goes straight to the table too (Redis rests for RETRY_SECONDS)
        follow(enrollment)
        assert buffer.flush()
        assert Click.objects.count() == 6
    finally:
        assert buffer.stop()


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_batch_that_half_reached_redis_is_written_once(click_batch, enrollment, monkeypatch):
    real_execute = redis.client.Pipeline.execute

    def execute_then_time_out(self, *args, **kwargs):
        real_execute(self, *args, **kwargs)
        raise redis.TimeoutError("the answer never came")

    monkeypatch.setattr(redis.client.Pipeline, "execute", execute_then_time_out)
    for _ in range(3):
        follow(enrollment)
    assert buffer.flush()
    # the clicks are both in the stream and (the fallback) in the table
    assert buffer.in_stream() == 3
    assert sorted(table_ids()) == sorted(stream_ids(click_batch))
    monkeypatch.setattr(redis.client.Pipeline, "execute", real_execute)
    # and the drain skips the ids the table has
    assert api.drain_click_buffer() == 3
    assert Click.objects.count() == 3


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_redis_and_the_database_failing_the_batch_is_retried_until_written(
    click_batch, enrollment, monkeypatch, caplog
):
    def redis_refuses(self, *args, **kwargs):
        raise redis.ConnectionError("Redis went away")

    real_write = api._write_clicks
    attempts = []

    def database_fails_twice(rows):
        attempts.append(len(rows))
        if len(attempts) <= 2:
            raise RuntimeError(f"database went away with {rows[0]}")  # quotes a click
        real_write(rows)

    monkeypatch.setattr(redis.client.Pipeline, "execute", redis_refuses)
    monkeypatch.setattr(api, "_write_clicks", database_fails_twice)
    for _ in range(4):
        follow(enrollment)
    # the flush hears of the first failure; the sender keeps the batch and tries again
    assert not buffer.flush()
    eventually(lambda: Click.objects.count() == 4, what="the batch in the table")
    assert attempts == [4, 4, 4]
    assert len(set(table_ids())) == 4
    # the failures were logged without the click: no token, IP, user agent, referrer or ids
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "could not write 4 clicks to the database (RuntimeError)" in logged
    for secret in (
        enrollment.token,
        "198.51.100.7",
        api.hash_ip("198.51.100.7"),
        "Mozilla",
        "blog.example",
        *table_ids(),
    ):
        assert secret not in logged


@pytest.mark.django_db(transaction=True)
def test_redis_down_and_the_queue_full_the_request_inserts_its_click(
    enrollment, redis_down, settings, monkeypatch
):
    settings.KANGROW_CLICK_BATCH_MS = 60_000
    monkeypatch.setattr(buffer, "MAX_QUEUED", 0)
    try:
        follow(enrollment)
        assert Click.objects.count() == 1  # inserted by the request, as with batching off
        assert buffer.queued() == 0
    finally:
        assert buffer.stop()


# --- batching in real processes: a fork, gunicorn's restart and stop ----------------------------

ROOT = Path(__file__).resolve().parents[3]
BATCH_APP = """
import os

import django

django.setup()

from uuid import uuid4

from kangrow.programs import api as programs
from kangrow.tracking import api

TARGET = programs.LinkTarget(
    enrollment_id=uuid4(), campaign_id=uuid4(), app_id=uuid4(), live=True,
    landing_url="https://app.example/start", site_url="https://app.example/",
)
programs.resolve_link = lambda *, token: TARGET  # no database: the clicks stay in Redis


def application(environ, start_response):
    landing = api.record_click(token="batchTest0000001", ip="198.51.100.7")
    start_response("302 Found", [("Location", landing), ("X-Worker", str(os.getpid()))])
    return [b""]
"""

FORK_SCRIPT = """
import os
import sys

import batch_app
from kangrow.tracking import api

api.record_click(token="batchTest0000001", ip="198.51.100.7")  # queued by the parent's sender
child = os.fork()
if child == 0:
    api.record_click(token="batchTest0000001", ip="198.51.100.8")  # the child's own sender
    sys.exit(0)  # a normal exit: atexit sends it
_, status = os.waitpid(child, 0)
sys.exit(os.waitstatus_to_exitcode(status))  # and the parent's at its exit
"""


@pytest.fixture
def batch_process(click_buffer, redis_server_url, tmp_path):
    """The environment of a Python process with batching on and a 60 s interval (clicks leave
    the queue only at its exit), its link faked (no database): `batch_app` in its path."""
    (tmp_path / "batch_settings.py").write_text(
        "from config.settings.test import *  # noqa\n"
        f"REDIS_URL = {redis_server_url!r}\n"
        "KANGROW_CLICK_BUFFER = True\n"
        "KANGROW_CLICK_BATCH_MS = 60_000\n"
    )
    (tmp_path / "batch_app.py").write_text(textwrap.dedent(BATCH_APP))
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "batch_settings",
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}",
    }


@pytest.mark.redis
def test_a_forked_process_sends_its_own_clicks_and_not_its_parents(
    batch_process, click_buffer, tmp_path
):
    (tmp_path / "fork_script.py").write_text(textwrap.dedent(FORK_SCRIPT))
    done = subprocess.run(
        [sys.executable, str(tmp_path / "fork_script.py")],
        cwd=ROOT, env=batch_process, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # each click once: the child sent its own (a sender started after the fork), not the one
    # it inherited in the parent's queue, which the parent sent
    entries = stream_rows(click_buffer)
    assert len({row[0] for row in entries}) == len(entries) == 2
    assert {row[5] for row in entries} == {api.hash_ip("198.51.100.7"), api.hash_ip("198.51.100.8")}


@pytest.mark.redis
def test_a_gunicorn_worker_sends_its_queue_when_it_restarts_or_stops(
    batch_process, click_buffer, tmp_path
):
    """The restart after --max-requests and SIGTERM both send the worker's queue (atexit runs
    in gthread workers)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "batch_app:application", "--bind",
         f"127.0.0.1:{port}", "--worker-class", "gthread", "--workers", "1", "--threads", "2",
         "--max-requests", "3", "--no-control-socket", "--graceful-timeout", "15"],
        cwd=ROOT, env=batch_process, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip

    def listening() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return False
        return True

    def click() -> str:  # never retried: a retry could record a click twice
        response = httpx.get(f"http://127.0.0.1:{port}/r/batchTest0000001", timeout=30)
        assert response.status_code == 302
        return response.headers["X-Worker"]

    try:
        eventually(listening, what="gunicorn listening")
        workers = [click(), click()]
        assert workers[0] == workers[1]
        assert buffer.in_stream() == 0  # queued in the worker
        workers.append(click())  # the third request: the worker restarts after it
        eventually(lambda: buffer.in_stream() == 3, what="the restart's flush")
        workers += [click(), click()]
        assert workers[3] == workers[4] != workers[0]
        assert buffer.in_stream() == 3
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)
        log.close()
    assert buffer.in_stream() == 5, (tmp_path / "gunicorn.log").read_text()
    assert len(set(stream_ids(click_buffer))) == 5
