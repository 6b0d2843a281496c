"""Reads that tolerate a second of lag go to a streaming replica when one is configured.

`DATABASE_REPLICA_URL` adds the `replica` database and turns `KANGROW_READ_REPLICA` on
(docs/scaling.md). Only code that asks reads from it, with `replica_reads()` or `on_replica`:
the affiliate's dashboard figures and referral table (the reports context). Every other read,
every write and every migration stays on the primary, so read-then-write code never acts on a
lagging copy. A replica that fails (down, restarting, a query cancelled by replication) costs
one retry on the primary, never an error page.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

REPLICA = "replica"  # the alias in settings.DATABASES
_reading: ContextVar[bool] = ContextVar("kangrow_replica_reads", default=False)


def enabled() -> bool:
    return bool(getattr(settings, "KANGROW_READ_REPLICA", False))


@contextmanager
def replica_reads() -> Iterator[None]:
    """ORM reads inside the block go to the replica, when replica reads are on."""
    token = _reading.set(enabled())
    try:
        yield
    finally:
        _reading.reset(token)


def on_replica(func: Callable[P, R]) -> Callable[P, R]:
    """Run `func`'s reads on the replica; if the replica fails, run it again on the primary
    (the function must only read)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if not enabled() or _reading.get():
            return func(*args, **kwargs)
        try:
            with replica_reads():
                return func(*args, **kwargs)
        except (OperationalError, InterfaceError) as exc:
            log.warning("replica read %s failed (%s); reading the primary", func.__qualname__,
                        type(exc).__name__)  # fmt: skip
            return func(*args, **kwargs)

    return wrapper


class ReplicaRouter:
    """settings.DATABASE_ROUTERS: reads inside replica_reads() go to the replica; writes always
    to the primary (an object read from the replica is saved there too); migrations run on the
    primary only, the replica follows it by streaming replication."""

    def db_for_read(self, model: type, **hints: Any) -> str | None:
        return REPLICA if _reading.get() else None

    def db_for_write(self, model: type, **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        same_data = {DEFAULT_DB_ALIAS, REPLICA}
        return True if {obj1._state.db, obj2._state.db} <= same_data else None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return False if db == REPLICA else None
