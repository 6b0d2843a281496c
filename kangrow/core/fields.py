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


def https_formfield(field: models.Field, **kwargs):  # type: ignore[no-untyped-def]
    """ModelForm `Meta.formfield_callback`: a URL typed without a scheme means https (Django
    6's default, chosen now; `formfield_overrides` covers only the admin's own form build)."""
    if isinstance(field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")
    return field.formfield(**kwargs)
