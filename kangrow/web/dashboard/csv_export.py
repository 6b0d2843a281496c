"""Streaming CSV with formula-injection protection (OWASP: a cell starting with = + - @, a tab or
a carriage return is prefixed with a single quote, so spreadsheets show it as text)."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator

_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def safe_cell(value: object) -> str:
    text = "" if value is None else str(value)
    if text.startswith(_DANGEROUS) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(header: list[str], rows: Iterable[list[object]]) -> Iterator[str]:
    """One CSV line at a time, so a response can stream any number of rows."""
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([safe_cell(v) for v in row])
