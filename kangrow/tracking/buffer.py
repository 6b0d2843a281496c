"""The click buffer: a Redis stream between /r/<token> and the `clicks` table.

Private to the tracking context (`api.record_click` appends, `api.drain_click_buffer` moves the
entries into the table). With REDIS_URL set a click costs the request one `XADD`, no database
round trip; the beat task `tracking.drain_clicks` (every second) copies the entries into
`clicks` in batches and deletes them from the stream only once the rows are committed. Every
click carries the UUIDv7 id it got in the request, and the table insert ignores ids it already
has, so draining the same entries twice (a crash between commit and delete, two drains at
once) never duplicates a click.

When Redis does not answer within KANGROW_CLICK_BUFFER_TIMEOUT, `append` returns False and the
caller inserts the click itself; the process then leaves Redis alone for RETRY_SECONDS instead
of paying the timeout on every click.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import redis
from django.conf import settings
from django.db import transaction
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

STREAM = "kangrow:clicks"
DEAD_STREAM = "kangrow:clicks:dead"  # entries a drain could not read, kept for a person to see
DRAIN_LOCK = "kangrow:clicks:drain-lock"
FIELD = "c"
VERSION = 1
COLUMNS = 14  # len(api.CLICK_COLUMNS); a column added to clicks means VERSION 2
RETRY_SECONDS = 5.0

_clients: dict[tuple[str, float], redis.Redis] = {}
_clients_lock = threading.Lock()
_thread = threading.local()  # each web thread's own connection for XADD
_down_until = 0.0


def enabled() -> bool:
    """Buffer clicks in Redis: REDIS_URL set and KANGROW_CLICK_BUFFER on (its default)."""
    return bool(getattr(settings, "KANGROW_CLICK_BUFFER", False) and settings.REDIS_URL)


def _new_client(timeout: float, *, single: bool = False) -> redis.Redis:
    return redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1),  # one immediate retry on a dropped connection
        health_check_interval=30,
        single_connection_client=single,
    )


def request_client() -> redis.Redis:
    """This thread's client for the request path: its own connection (no pool checkout, a third
    of redis-py's cost per command) and a short timeout, so a sick Redis costs a click ~0.2 s
    once. Connects when first made: call it inside the error handling."""
    key = (settings.REDIS_URL, float(getattr(settings, "KANGROW_CLICK_BUFFER_TIMEOUT", 0.2)))
    client = getattr(_thread, "client", None)
    if client is None or _thread.key != key:
        if client is not None:
            client.close()
        _thread.client = None
        client = _new_client(key[1], single=True)
        _thread.client, _thread.key = client, key
    return client


def _forget_request_client() -> None:
    client = getattr(_thread, "client", None)
    _thread.client = None
    if client is not None:
        with contextlib.suppress(redis.RedisError, OSError):
            client.close()


def _shared_client(timeout: float) -> redis.Redis:
    """A pooled client per (REDIS_URL, timeout), made once per process."""
    key = (settings.REDIS_URL, timeout)
    found = _clients.get(key)
    if found is None:
        with _clients_lock:
            found = _clients.setdefault(key, _new_client(timeout))
    return found


def drain_client() -> redis.Redis:
    return _shared_client(10.0)


def encode(row: Sequence[Any]) -> str:
    """A click row (api.CLICK_COLUMNS order: UUIDs, a datetime, strings) as one stream field."""
    return json.dumps([VERSION, *(v if isinstance(v, str) else str(v) for v in row[:4]),
                       row[4].isoformat(), *row[5:]], separators=(",", ":"))  # fmt: skip


def decode(raw: bytes | str) -> list[str] | None:
    """The row's values as text (ids, ISO time, strings); None for an entry that is not a
    click of this version."""
    try:
        values = json.loads(raw)
    except (TypeError, ValueError):
        return None
    if not isinstance(values, list) or not values or values[0] != VERSION:
        return None
    row = values[1:]
    if len(row) != COLUMNS or not all(isinstance(v, str) for v in row):
        return None
    return row


def has_click(*, enrollment_id: str, since: datetime, until: datetime) -> bool:
    """Whether a buffered (not yet drained) click of the enrollment lies in [since, until].

    Reads the stream from `since` on without the drain lock (entry ids are the milliseconds of
    the XADD, which follows the click at once). Redis failing counts as no click: while it is
    down clicks are inserted directly, and a later event with the same ref can still attribute.
    """
    start = f"{max(int(since.timestamp() * 1000) - 1000, 0)}-0"
    try:
        client = lookup_client()
        while True:
            entries = client.xrange(STREAM, min=start, max="+", count=1000)
            for _, fields in entries:
                row = decode(fields.get(FIELD.encode(), b""))
                if row is None or row[1] != enrollment_id:
                    continue
                clicked_at = datetime.fromisoformat(row[4])
                if since <= clicked_at <= until:
                    return True
            if len(entries) < 1000:
                return False
            start = "(" + entries[-1][0].decode()
    except (redis.RedisError, OSError, ValueError):
        log.warning("could not read the click buffer; attributing from the table only")
        return False


def lookup_client() -> redis.Redis:
    """Attribution's client: a short timeout (a sick Redis must not hold an event batch)."""
    return _shared_client(1.0)


def append(row: Sequence[Any]) -> bool:
    """Add one click to the stream (one XADD). False when Redis failed or is resting after a
    failure: the caller must then write the click itself."""
    global _down_until
    if _down_until and time.monotonic() < _down_until:
        return False
    try:
        request_client().xadd(STREAM, {FIELD: encode(row)})
    except (redis.RedisError, OSError):
        _forget_request_client()
        _down_until = time.monotonic() + RETRY_SECONDS
        log.warning("click buffer unavailable; writing clicks directly", exc_info=True)
        return False
    _down_until = 0.0
    return True


def pending() -> int:
    """Clicks waiting in the stream (XLEN)."""
    return int(drain_client().xlen(STREAM))


def drain(
    write: Callable[[list[list[str]]], None],
    *,
    batch_size: int,
    max_seconds: float,
    wait: float,
) -> int:
    """Read the stream oldest first in batches; `write` each batch (committed, or part of the
    caller's transaction) and delete the batch's entries once that commits. One drain at a time
    (a Redis lock); `wait` seconds for a running drain to finish, 0 to give up at once. Returns
    how many entries were read."""
    client = drain_client()
    lock = client.lock(DRAIN_LOCK, timeout=max(60.0, 3 * max_seconds), blocking=wait > 0,
                       blocking_timeout=wait or None)  # fmt: skip
    if not lock.acquire():
        return 0
    moved = 0
    try:
        deadline = time.monotonic() + max_seconds
        start = "-"
        while True:
            entries = client.xrange(STREAM, min=start, max="+", count=batch_size)
            if not entries:
                break
            ids = [entry_id for entry_id, _ in entries]
            rows = []
            for entry_id, fields in entries:
                row = decode(fields.get(FIELD.encode(), b""))
                if row is None:  # kept aside, not lost (e.g. another version during a deploy)
                    log.error("click buffer entry %s is unreadable; moved to %s", entry_id,
                              DEAD_STREAM)  # fmt: skip
                    client.xadd(DEAD_STREAM, fields)
                else:
                    rows.append(row)
            if rows:
                write(rows)

            def _delete(ids: list[bytes] = ids) -> None:
                client.xdel(STREAM, *ids)

            # at once, or when the caller's transaction commits; a failed delete only means
            # the next drain reads those entries again (their ids are skipped by the insert)
            transaction.on_commit(_delete, robust=True)
            moved += len(entries)
            start = "(" + ids[-1].decode()
            if len(entries) < batch_size or time.monotonic() > deadline:
                break
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:  # expired during a very long drain: harmless
            log.warning("click drain outlived its lock")
    return moved
