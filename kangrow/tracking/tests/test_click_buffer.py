"""Clicks through the Redis buffer (REDIS_URL set): the request only appends, the drain task
writes them once, and Redis failing falls back to a direct insert."""

from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
import redis
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.utils import timezone

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
def test_draining_twice_or_the_same_entries_again_never_duplicates(click_buffer, enrollment):
    for _ in range(3):
        follow(enrollment)
    assert api.drain_click_buffer() == 3
    assert api.drain_click_buffer() == 0  # nothing left: nothing written
    # a crash between commit and delete leaves committed clicks in the stream: the same
    # entries drained again are skipped by id
    for row in Click.objects.values_list(*api.CLICK_COLUMNS):
        assert buffer.append(row)
    assert api.pending_clicks() == 3
    assert api.drain_click_buffer() == 3
    assert Click.objects.count() == 3
    assert api.pending_clicks() == 0


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


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_batch_that_fails_to_insert_stays_in_redis(click_buffer, enrollment, monkeypatch):
    for _ in range(5):
        follow(enrollment)
    real_write = api._write_clicks
    batches = []

    def second_batch_fails(rows):
        batches.append(len(rows))
        if len(batches) == 2:
            raise RuntimeError("database went away")
        real_write(rows)

    monkeypatch.setattr(api, "_write_clicks", second_batch_fails)
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
    follow(enrollment)
    assert api.drain_click_buffer() == 3
    assert Click.objects.count() == 1
    assert api.pending_clicks() == 0
    # kept in the dead-letter stream for a person, not lost
    assert click_buffer.xlen(buffer.DEAD_STREAM) == 2


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
