"""The click buffer: a Redis stream between /r/<token> and the `clicks` table.

Private to the tracking context (`api.record_click` appends, `api.drain_click_buffer` moves the
entries into the table). With REDIS_URL set a click costs the request no database round trip;
the beat task `tracking.drain_clicks` (every second) copies the entries into `clicks` in
batches and deletes them from the stream only once the rows are committed. Every click carries
the UUIDv7 id it got in the request, and the table insert ignores ids it already has, so
draining the same entries twice (a crash between commit and delete, two drains at once) never
duplicates a click.

An entry holds up to ENTRY_ROWS clicks (field FIELD: JSON `[2, row, row, …]`, each row the
CLICK_COLUMNS as text; field COUNT_FIELD: how many), so a batch costs Redis, the sender and the
drain one command and one JSON document, not one per click. The drain still reads entries of
VERSION 1 (`[1, …row]`, one click each), written by the release before.

Batching (KANGROW_CLICK_BATCH_MS > 0, the default 20): the request only appends its row to an
in-process queue (`queue`); one sender thread per process (started on the first click, again
after a fork) wakes on the first queued click, collects for up to the interval or BATCH_ROWS
clicks, and sends them all as one entry (one XADD; a bigger backlog as several, pipelined in one
round trip). A loopback round trip costs the web process ~100 µs of CPU; an entry's XADD with
its JSON ~4.5 µs per click, against 12 µs for one XADD per click (bench.profile_tracking).
The trade-off: a killed process (SIGKILL, OOM, power loss) loses the clicks it had queued, about
one interval's (20 ms by default); a graceful stop (SIGTERM, gunicorn's --max-requests restart)
sends them first (`stop`, registered with atexit, which gunicorn's gthread worker runs after
its worker_exit hook; a test checks both). When Redis fails the sender writes the batch
straight into the table (the drain's idempotent insert, so a batch that half reached Redis is
still written once), and when that fails too it keeps the batch and retries with a backoff up
to BACKOFF_MAX_SECONDS: then the queue grows (a kill loses all of it) up to MAX_QUEUED clicks
(~20 MB), beyond which each request writes its click itself, as with batching off.

When Redis does not answer within KANGROW_CLICK_BUFFER_TIMEOUT, `append` returns False and the
caller inserts the click itself; the process then leaves Redis alone for RETRY_SECONDS instead
of paying the timeout on every click (the sender too: it writes to the table meanwhile).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

import redis
from django.conf import settings
from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    connections,
    transaction,
)
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

STREAM = "kangrow:clicks"
DEAD_STREAM = "kangrow:clicks:dead"  # entries a drain could not read, kept for a person to see
DEAD_SEEN = "kangrow:clicks:dead-seen"  # the last dead entry the drains have tried to replay
DRAIN_LOCK = "kangrow:clicks:drain-lock"
FIELD = "c"
COUNT_FIELD = "n"
VERSION = 2  # 1: one click per entry (still read)
COLUMNS = 14  # len(api.CLICK_COLUMNS); a column added to clicks means VERSION 3
ENTRY_ROWS = 500  # most clicks in one stream entry
ENTRY_BYTES = 64 * 1024  # most JSON in one entry: a batch of long rows is split further
# Entries per XRANGE: FIRST_PAGE, then as many as hold about PAGE_BYTES going by the entries
# read so far, at most MAX_PAGE (so at most MAX_PAGE * ENTRY_BYTES however the sizes vary)
FIRST_PAGE = 20
PAGE_BYTES = 4 * 1024 * 1024
MAX_PAGE = 1000
RETRY_SECONDS = 5.0
BATCH_ROWS = ENTRY_ROWS  # this many queued clicks are sent without waiting out the interval
PIPELINE_ROWS = 4 * ENTRY_ROWS  # most clicks in one pipelined round trip: a backlog leaves fast
MAX_QUEUED = 20_000  # ~1 KB of memory each; beyond it the request writes its click itself
SENDER_TIMEOUT = 1.0  # the sender's Redis timeout: it is off the request path
BACKOFF_MAX_SECONDS = 5.0  # between attempts while Redis and the database both fail
EXIT_SECONDS = 5.0  # the longest a graceful exit waits for the queue (gunicorn allows 30 s)

Row = Sequence[Any]
Write = Callable[[list[list[str]]], None]

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


def as_text(row: Row) -> list[str]:
    """A click row (api.CLICK_COLUMNS order: UUIDs, a datetime, strings) as text values, the
    form the drain reads from the stream and writes to the table."""
    return [*(v if isinstance(v, str) else str(v) for v in row[:4]), row[4].isoformat(), *row[5:]]


def entry(rows: Sequence[Row]) -> dict[str, str | int]:
    """The fields of one stream entry holding `rows` (JSON is ASCII: its length is its size)."""
    document = json.dumps([VERSION, *map(as_text, rows)], separators=(",", ":"))
    return {FIELD: document, COUNT_FIELD: len(rows)}


def entries(rows: Sequence[Row]) -> Iterator[dict[str, str | int]]:
    """`rows` as stream entries of at most ENTRY_ROWS clicks and, but for a single click,
    ENTRY_BYTES of JSON."""
    for start in range(0, len(rows), ENTRY_ROWS):
        chunk = rows[start : start + ENTRY_ROWS]
        fields = entry(chunk)
        size = len(fields[FIELD])  # type: ignore[arg-type]
        if size <= ENTRY_BYTES or len(chunk) == 1:
            yield fields
            continue
        parts = min(-(-size // ENTRY_BYTES), len(chunk))  # rows vary: a part may split again
        step = -(-len(chunk) // parts)
        for part in range(0, len(chunk), step):
            yield from entries(chunk[part : part + step])


def _is_row(row: object) -> bool:
    return isinstance(row, list) and len(row) == COLUMNS and all(isinstance(v, str) for v in row)


def decode(fields: dict[bytes, bytes]) -> list[list[str]] | None:
    """An entry's click rows, values as text (ids, ISO time, strings); None for an entry that
    is not clicks of a version this release reads (kept aside whole by the drain)."""
    try:
        values = json.loads(fields.get(FIELD.encode(), b""))
    except (TypeError, ValueError):
        return None
    if not isinstance(values, list) or not values:
        return None
    if values[0] == 1:  # the release before: one click
        rows = [values[1:]]
    elif values[0] == VERSION:
        rows = values[1:]
    else:
        return None
    return rows if rows and all(map(_is_row, rows)) else None


def _pages(
    client: redis.Redis, start: str, stream: str = STREAM
) -> Iterator[list[tuple[bytes, dict[bytes, bytes]]]]:
    """The stream's entries from `start` (an XRANGE bound) on, a page per round trip: its
    size follows the entries' (FIRST_PAGE, then about PAGE_BYTES, at most MAX_PAGE)."""
    count = FIRST_PAGE
    field = FIELD.encode()
    while True:
        page = client.xrange(stream, min=start, max="+", count=count)
        if page:
            yield page
        if len(page) < count:
            return
        start = "(" + page[-1][0].decode()
        average = sum(len(fields.get(field, b"")) for _, fields in page) / len(page)
        count = max(1, min(MAX_PAGE, int(PAGE_BYTES // max(average, 1.0))))


def _entries(
    client: redis.Redis, start: str, stream: str = STREAM
) -> Iterator[tuple[bytes, dict[bytes, bytes]]]:
    for page in _pages(client, start, stream):
        yield from page


def has_click(*, enrollment_id: str, since: datetime, until: datetime) -> bool:
    """Whether a buffered (not yet drained) click of the enrollment lies in [since, until].

    Reads the stream from `since` on without the drain lock (entry ids are the milliseconds of
    the XADD, which follows the click within KANGROW_CLICK_BATCH_MS; a click still queued in a
    web process is not seen yet). Redis failing counts as no click: while it is down clicks are
    inserted directly, and a later event with the same ref can still attribute.
    """
    start = f"{max(int(since.timestamp() * 1000) - 1000, 0)}-0"
    try:
        for _, fields in _entries(lookup_client(), start):
            for row in decode(fields) or ():
                if row[1] == enrollment_id and since <= datetime.fromisoformat(row[4]) <= until:
                    return True
        return False
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
        request_client().xadd(STREAM, entry([row]))
    except (redis.RedisError, OSError):
        _forget_request_client()
        _down_until = time.monotonic() + RETRY_SECONDS
        log.warning("click buffer unavailable; writing clicks directly", exc_info=True)
        return False
    _down_until = 0.0
    return True


# --- batching: an in-process queue and one sender thread per process ---------------------------


def batch_seconds() -> float:
    """How long the sender collects clicks before it sends them; 0: no batching."""
    return max(float(getattr(settings, "KANGROW_CLICK_BATCH_MS", 0)), 0.0) / 1000


class _Flush:
    """A marker in the queue: `done` once every click queued before it was sent (`ok`) or
    failed to be."""

    __slots__ = ("done", "ok")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.ok = False


class _Sender:
    """This process's queue of click rows and the thread that sends them."""

    def __init__(self, write: Write) -> None:
        self.pid = os.getpid()
        self.write = write  # the table's idempotent bulk insert, when Redis fails
        self.queue: deque[Row | _Flush] = deque()  # append/popleft are thread-safe
        self.wake = threading.Event()  # something is queued
        self.hurry = threading.Event()  # send without waiting out the interval
        self.urgent = threading.Event()  # a flush or the exit: retry a failed batch now
        self.stopping = False
        self.deadline = 0.0  # when stopping: give up on what is left after this
        self.unsent = 0
        self.thread = threading.Thread(target=self._run, name="kangrow-click-sender", daemon=True)

    def _run(self) -> None:
        try:
            while not (self.stopping and not self.queue):
                self.wake.wait()
                interval = batch_seconds()
                if interval and not self.stopping:
                    self.hurry.wait(interval)  # collect: the interval, or BATCH_ROWS, or a flush
                # cleared before taking: a click queued from now on sets them again
                self.wake.clear()
                self.hurry.clear()
                try:
                    self._send_queued()
                except Exception as exc:  # a bug must not end the thread and strand the queue
                    log.error("click sender failed (%s); carrying on", type(exc).__name__)
        finally:
            connections.close_all()  # this thread's database connection, if the fallback made one

    def _take(self) -> tuple[list[Row], list[_Flush]]:
        rows: list[Row] = []
        marks: list[_Flush] = []
        while self.queue and len(rows) < PIPELINE_ROWS:
            item = self.queue.popleft()  # the only consumer of this queue
            if isinstance(item, _Flush):
                marks.append(item)
            else:
                rows.append(item)
        return rows, marks

    def _send_queued(self) -> None:
        """Everything queued, PIPELINE_ROWS at a time; a batch that neither Redis nor the
        database takes is retried (backoff up to BACKOFF_MAX_SECONDS) before the next, while
        the queue fills up to MAX_QUEUED."""
        while True:
            rows, marks = self._take()
            if not rows and not marks:
                return
            self.urgent.clear()
            ok = not rows or self._send(rows)
            for mark in marks:  # a flush hears about the first attempt, not every retry
                mark.ok = ok
                mark.done.set()
            delay = 0.1
            while not ok:
                if self.stopping and time.monotonic() >= self.deadline:
                    self._give_up(len(rows))
                    return
                wait = delay
                if self.stopping:
                    wait = min(delay, max(self.deadline - time.monotonic(), 0.0))
                self.urgent.wait(wait)
                self.urgent.clear()
                delay = min(delay * 2, BACKOFF_MAX_SECONDS)
                ok = self._send(rows)

    def _give_up(self, unsent: int) -> None:
        while self.queue:
            item = self.queue.popleft()
            if isinstance(item, _Flush):
                item.done.set()
            else:
                unsent += 1
        self.unsent = unsent
        log.error("%d clicks could not be sent before the process exits", unsent)

    def _send(self, rows: list[Row]) -> bool:
        """One round trip to the stream (an entry per ENTRY_ROWS clicks, pipelined); when Redis
        fails (or rests after a failure), the table's idempotent insert from this thread. False
        when both failed."""
        global _down_until
        if not (_down_until and time.monotonic() < _down_until):
            try:
                pipe = _shared_client(SENDER_TIMEOUT).pipeline(transaction=False)
                for fields in entries(rows):
                    pipe.xadd(STREAM, fields)
                pipe.execute()
            except (redis.RedisError, OSError) as exc:
                _down_until = time.monotonic() + RETRY_SECONDS
                # the class only: a pipeline's error quotes the failed command, i.e. the click
                log.warning("click buffer unavailable (%s); writing %d clicks directly",
                            type(exc).__name__, len(rows))  # fmt: skip
            else:
                _down_until = 0.0
                return True
        # Some entries may have reached the stream before the failure: the drain skips the ids
        # written here. Connections as around a request: this thread's is reused while young
        # and healthy (CONN_MAX_AGE), dropped when broken, closed when the thread ends.
        close_old_connections()
        try:
            self.write([as_text(row) for row in rows])
        except Exception as exc:  # the class only: a database error may quote the row's values
            log.error("could not write %d clicks to the database (%s); retrying", len(rows),
                      type(exc).__name__)  # fmt: skip
            return False
        finally:
            close_old_connections()
        return True


_sender: _Sender | None = None
_sender_lock = threading.Lock()
_exit_hook = False


def _reset_after_fork() -> None:
    global _sender_lock
    _sender_lock = threading.Lock()  # another thread may have held it at the fork


os.register_at_fork(after_in_child=_reset_after_fork)


def _current() -> _Sender | None:
    sender = _sender
    return sender if sender is not None and sender.pid == os.getpid() else None


def _start(write: Write) -> _Sender:
    """This process's sender; a new one on first use and after a fork (the parent's thread
    does not exist here, and the rows it had queued are the parent's to send)."""
    global _sender, _exit_hook
    with _sender_lock:
        sender = _current()
        if sender is None:
            inherited = _sender
            if inherited is not None and inherited.thread.is_alive():  # same process: a test
                inherited.stopping = True
                inherited.deadline = time.monotonic() + EXIT_SECONDS
                _hurry(inherited)
            sender = _Sender(write)
            sender.thread.start()
            _sender = sender
            if not _exit_hook:
                atexit.register(stop)
                _exit_hook = True
    return sender


def _hurry(sender: _Sender) -> None:
    sender.wake.set()
    sender.hurry.set()
    sender.urgent.set()


def queue(row: Row, write: Write) -> bool:
    """Queue one click for this process's sender thread (no network on the calling thread).
    False when batching is off or the queue is full: the caller must then write the click
    itself. `write` is the table's bulk insert for when Redis fails."""
    if not batch_seconds():
        return False
    sender = _current() or _start(write)
    rows = sender.queue
    if len(rows) >= MAX_QUEUED:
        return False
    rows.append(row)
    if not sender.wake.is_set():
        sender.wake.set()
    if len(rows) >= BATCH_ROWS and not sender.hurry.is_set():
        sender.hurry.set()
    return True


def flush(timeout: float = EXIT_SECONDS) -> bool:
    """Send what this process has queued now, and wait (at most `timeout` seconds) until it
    is in Redis or in the table. True when it is (or nothing was queued); False when it failed
    or is still being retried."""
    sender = _current()
    if sender is None:
        return True
    mark = _Flush()
    sender.queue.append(mark)
    _hurry(sender)
    return mark.done.wait(timeout) and mark.ok


def stop(timeout: float = EXIT_SECONDS) -> bool:
    """Send what is queued and end this process's sender thread (atexit: a graceful exit,
    including gunicorn's --max-requests restart). Clicks queued afterwards start a new sender.
    False when some clicks could not be sent within `timeout` seconds (logged with their
    number)."""
    global _sender
    with _sender_lock:
        sender = _current()
        if sender is None:
            return True
        _sender = None
    sender.deadline = time.monotonic() + timeout
    sender.stopping = True
    _hurry(sender)
    sender.thread.join(timeout + SENDER_TIMEOUT + 1.0)
    return not sender.thread.is_alive() and not sender.unsent


def queued() -> int:
    """Clicks queued in this process, not yet sent."""
    sender = _current()
    return 0 if sender is None else sum(1 for i in list(sender.queue) if not isinstance(i, _Flush))


def in_stream() -> int:
    """Clicks waiting in the stream. Reads every entry (XLEN counts entries, not clicks): for
    tests and operators, not for a request or a periodic task."""
    return sum(
        int(fields.get(COUNT_FIELD.encode(), 1)) for _, fields in _entries(drain_client(), "-")
    )


def pending() -> int:
    """Clicks waiting in the stream or in this process's queue."""
    return in_stream() + queued()


def _replay_dead(
    client: redis.Redis, write: Callable[[list[list[str]]], None], start: str, *, stop: bool
) -> tuple[int, int, str]:
    """The readable entries of the dead-letter stream from `start` (an XRANGE bound) on, into
    the table with `write` (the drain's idempotent insert: a click already there is skipped),
    deleted once that commits. Entries this release cannot read stay, and so do those of a page
    the database refused (logged; the operator's command tries them again). With `stop`, a
    database that failed rather than refused the rows (OperationalError: down, restarting) ends
    the replay before that page, so the next drain tries it again. Returns (clicks written,
    entries left, the bound after the last entry dealt with)."""
    written = left = 0
    for page in _pages(client, start, DEAD_STREAM):
        readable = [(entry_id, decode(fields)) for entry_id, fields in page]
        rows = [row for _, found in readable if found for row in found]
        ids = [entry_id for entry_id, found in readable if found]
        left += len(page) - len(ids)
        if rows:
            try:
                write(rows)
            except (DatabaseError, ValueError) as exc:  # the class only: it may quote a row
                log.error("could not write %d set-aside clicks (%s); they stay in %s", len(rows),
                          type(exc).__name__, DEAD_STREAM)  # fmt: skip
                if stop and isinstance(exc, OperationalError | InterfaceError):
                    return written, left, start
                left += len(ids)
            else:
                written += len(rows)
                transaction.on_commit(lambda ids=ids: client.xdel(DEAD_STREAM, *ids), robust=True)
        start = "(" + page[-1][0].decode()
    return written, left, start


def replay_dead(write: Callable[[list[list[str]]], None]) -> tuple[int, int]:
    """Every readable entry of the dead-letter stream into the table (see _replay_dead).
    Returns (clicks written, entries left)."""
    written, left, _ = _replay_dead(drain_client(), write, "-", stop=False)
    return written, left


def drain(
    write: Callable[[list[list[str]]], None],
    *,
    batch_size: int,
    max_seconds: float,
    wait: float,
) -> int:
    """Read the stream oldest first, about `batch_size` clicks at a time (whole entries);
    `write` each batch (committed, or part of the caller's transaction) and delete the batch's
    entries once that commits. One drain at a time (a Redis lock); `wait` seconds for a running
    drain to finish, 0 to give up at once. Returns the clicks moved plus the unreadable entries
    set aside."""
    client = drain_client()
    lock = client.lock(DRAIN_LOCK, timeout=max(60.0, 3 * max_seconds), blocking=wait > 0,
                       blocking_timeout=wait or None)  # fmt: skip
    if not lock.acquire():
        return 0
    moved = 0
    try:
        deadline = time.monotonic() + max_seconds
        entries = _entries(client, "-")
        exhausted = False
        while not exhausted:
            ids: list[bytes] = []
            rows: list[list[str]] = []
            for entry_id, fields in entries:
                ids.append(entry_id)
                found = decode(fields)
                if found is None:  # kept aside, not lost (e.g. a newer version during a deploy)
                    log.error("click buffer entry %s is unreadable; moved to %s", entry_id,
                              DEAD_STREAM)  # fmt: skip
                    client.xadd(DEAD_STREAM, fields)
                    moved += 1
                else:
                    rows += found
                if len(rows) >= batch_size:
                    break
            else:
                exhausted = True
            if not ids:
                break
            if rows:
                write(rows)

            def _delete(ids: list[bytes] = ids) -> None:
                client.xdel(STREAM, *ids)

            # at once, or when the caller's transaction commits; a failed delete only means
            # the next drain reads those entries again (their ids are skipped by the insert)
            transaction.on_commit(_delete, robust=True)
            moved += len(rows)
            if time.monotonic() > deadline:
                break
        # Entries set aside since the last drain, e.g. by a worker of the previous release that
        # did not know this format during a rolling deploy: written now, each once.
        seen = client.get(DEAD_SEEN)
        start = seen.decode() if seen else "-"
        replayed, _, after = _replay_dead(client, write, start, stop=True)
        moved += replayed
        if after != start:
            transaction.on_commit(lambda: client.set(DEAD_SEEN, after), robust=True)
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:  # expired during a very long drain: harmless
            log.warning("click drain outlived its lock")
    return moved
