"""Field types shared by the contexts."""

from django.db import models


class CIEmailField(models.EmailField):
    """Case-insensitive email: `citext` on PostgreSQL, `COLLATE NOCASE` on SQLite.

    A unique index on it is unique case-insensitively, and `=` lookups ignore case, on both.
    """

    def db_type(self, connection):  # type: ignore[no-untyped-def]
        if connection.vendor == "postgresql":
            return "citext"
        if connection.vendor == "sqlite":
            return f"varchar({self.max_length}) COLLATE NOCASE"
        return super().db_type(connection)
