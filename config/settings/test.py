"""Tests: DATABASE_URL picks PostgreSQL (CI) or SQLite (the default); fast hashing."""

from .base import *  # noqa: F403

SECRET_KEY = "kangrow-test-secret-key-not-for-production-0123456789abcdef"
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only; prod is Argon2
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = True
APP_CACHE_SECONDS = 0  # tests recreate apps with the same slug
KANGROW_CLICK_BUFFER = False  # clicks inline unless a test turns the Redis buffer on
KANGROW_CLICK_BATCH_MS = 0  # and then one XADD per click, unless a test turns batching on
# The replica alias mirrors the test database; replica reads stay off unless a test turns
# KANGROW_READ_REPLICA on (test_replica.py in reports, test_dashboard_replica.py in web).
DATABASES["replica"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}  # noqa: F405
KANGROW_READ_REPLICA = False
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
AXES_FAILURE_LIMIT = 5
