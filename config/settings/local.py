"""Development on the embedded default: SQLite, jobs inline, emails written to files."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = SECRET_KEY or "django-insecure-kangrow-local-development-only"  # noqa: F405
