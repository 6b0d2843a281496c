"""Database helpers shared by the contexts."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

from django.db import connection

T = TypeVar("T")

# Parameters per statement where the backend sets no limit of its own (PostgreSQL: 65,535 with
# server-side binding, none with client-side binding).
MAX_PARAMS = 60_000


def param_chunks(values: Sequence[T], *, params_each: int = 1, spare: int = 0) -> Iterator[list[T]]:
    """`values` in slices that fit one statement's parameters on this backend: all at once on
    PostgreSQL (up to MAX_PARAMS), a few hundred at a time on SQLite (999 per statement)."""
    limit = connection.features.max_query_params or MAX_PARAMS
    size = max((limit - spare) // max(params_each, 1), 1)
    for start in range(0, len(values), size):
        yield list(values[start : start + size])
