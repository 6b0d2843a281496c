"""The `filemail://` email backend: one .eml file per message, so a person can open each link."""

from pathlib import Path

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from uuid_utils.compat import uuid7


class OneFilePerMessageBackend(BaseEmailBackend):
    def __init__(self, file_path: str | None = None, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(**kwargs)
        self.file_path = Path(file_path or settings.EMAIL_FILE_PATH)

    def send_messages(self, email_messages) -> int:  # type: ignore[no-untyped-def]
        self.file_path.mkdir(parents=True, exist_ok=True)
        for message in email_messages:
            (self.file_path / f"{uuid7()}.eml").write_bytes(message.message().as_bytes())
        return len(email_messages)
