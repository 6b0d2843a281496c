"""Production settings: `check --deploy` is clean; a missing or weak SECRET_KEY stops start-up."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)


def _run(args: list[str], secret_key: str) -> subprocess.CompletedProcess:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "SECRET_KEY", "DEBUG"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY=secret_key,
        PYTHONDONTWRITEBYTECODE="1",
    )
    return subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _random_key() -> str:
    return secrets.token_urlsafe(64)[:60]


def test_check_deploy_is_clean_under_production_settings():
    # when
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], _random_key())
    # then
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_turns_on_https_cookies_hsts_and_csp():
    # given
    script = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({'debug': s.DEBUG, 'session_secure': s.SESSION_COOKIE_SECURE, "
        "'csrf_secure': s.CSRF_COOKIE_SECURE, 'hsts': s.SECURE_HSTS_SECONDS, "
        "'ssl_redirect': s.SECURE_SSL_REDIRECT, 'csp_middleware': "
        "'csp.middleware.CSPMiddleware' in s.MIDDLEWARE, "
        "'csp_default': s.CONTENT_SECURITY_POLICY['DIRECTIVES']['default-src'], "
        "'frame_ancestors': s.CONTENT_SECURITY_POLICY['DIRECTIVES']['frame-ancestors']}))"
    )
    # when
    result = _run(["-c", script], _random_key())
    # then
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "debug": False,
        "session_secure": True,
        "csrf_secure": True,
        "hsts": 31536000,
        "ssl_redirect": True,
        "csp_middleware": True,
        "csp_default": ["'self'"],
        "frame_ancestors": ["'none'"],
    }


@pytest.mark.parametrize(
    "secret_key",
    [
        "",
        "too-short-0123456789",
        "django-insecure-" + "x7Qk2" * 10,
        "a" * 60,
    ],
)
def test_production_refuses_to_start_without_a_real_secret_key(secret_key):
    # when
    result = _run(["manage.py", "check"], secret_key)
    # then
    assert result.returncode != 0
    assert (
        "SECRET_KEY must be set to a random value of at least 50 characters in production."
        in result.stderr
    )
