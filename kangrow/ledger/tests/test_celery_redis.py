"""One end-to-end run through a real Redis broker and a real Celery worker: a signed event is
stored, the task goes to Redis on commit, a worker process applies it and the commission exists.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection
from django.test import Client

from config.celery import app as celery_app
from kangrow.ledger.models import Commission, PaymentEvent

from .helpers import build_world, event_body, signed_headers

ROOT = Path(__file__).resolve().parents[3]


def _database_url() -> str:
    s = connection.settings_dict
    auth = quote(s["USER"] or "")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"])
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _drop_broker_pools() -> None:
    celery_app.close()
    celery_app.amqp._producer_pool = None


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_event_is_processed_by_a_real_worker_through_redis(redis_server_url):
    redis_url = redis_server_url
    if connection.vendor != "postgresql":
        pytest.skip("the worker process needs a database it can share (PostgreSQL)")
    # given an enrolled affiliate (committed) and a worker consuming from Redis
    world = build_world()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "REDIS_URL": redis_url,
        "DATABASE_URL": _database_url(),
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "kangrow",
            "worker",
            "--pool=solo",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    saved = (celery_app.conf.task_always_eager, celery_app.conf.broker_url)
    celery_app.conf.task_always_eager = False
    celery_app.conf.broker_url = redis_url
    _drop_broker_pools()  # pools made earlier for memory:// would swallow the message
    try:
        # when a signed invoice with the affiliate's coupon is posted
        body = event_body(
            "invoice.paid",
            customer_id="cus_r",
            invoice_id="in_r",
            amount=10000,
            currency="USD",
            coupon=world.enrollment.coupon_code,
        )
        response = Client().post(
            "/api/v1/events", data=body, content_type="application/json", **signed_headers(body)
        )
        assert response.status_code == 202
        assert response.json()["status"] == "received"  # not processed in the request
        # then the worker processes it
        deadline = time.monotonic() + 60
        while not Commission.objects.exists():
            assert worker.poll() is None, worker.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the worker did not process the event in time"
            time.sleep(0.2)
        assert Commission.objects.get().amount == 3000
        assert PaymentEvent.objects.get().status == "processed"
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.broker_url = saved
        _drop_broker_pools()
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
