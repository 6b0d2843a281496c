"""Test helpers shared by the contexts' tests (nothing in the running site imports this)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connection


class Outcomes(list):
    """What each call returned, or the exception it raised, in call order."""

    @property
    def values(self) -> list[Any]:
        return [o for o in self if not isinstance(o, BaseException)]

    @property
    def errors(self) -> list[BaseException]:
        return [o for o in self if isinstance(o, BaseException)]


def run_at_once(*calls: Callable[[], Any], timeout: float = 60.0) -> Outcomes:
    """Run each call in a thread of its own, all released together by a barrier, each on its
    own database connection (closed afterwards): real concurrent writers on PostgreSQL."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[Any] = [None] * len(calls)

    def run(k: int) -> None:
        try:
            barrier.wait()
            outcomes[k] = calls[k]()
        except BaseException as exc:  # reported to the test through the outcomes
            outcomes[k] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    return Outcomes(outcomes)
