from django.core.exceptions import ValidationError


class MaximumLengthValidator:
    """gen.auth caps passwords at 72 characters (bcrypt's limit; kept for the same UX)."""

    def __init__(self, max_length: int = 72) -> None:
        self.max_length = max_length

    def validate(self, password: str, user: object = None) -> None:
        if len(password) > self.max_length:
            raise ValidationError(
                f"This password is too long. It must contain at most {self.max_length} characters.",
                code="password_too_long",
            )

    def get_help_text(self) -> str:
        return f"Your password must contain at most {self.max_length} characters."
