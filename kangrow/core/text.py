"""Edge checks for text that reaches the database."""

from django.core.exceptions import ValidationError


def reject_nul(value: str) -> None:
    """PostgreSQL text cannot hold NUL bytes: refuse them with a clear message."""
    if isinstance(value, str) and "\x00" in value:
        raise ValidationError("This value contains a NUL character, which is not allowed.")
