"""Settings shared by every environment. Everything that varies comes from the environment
(a `.env` file at the repository root may supply it); see the contract's table of variables."""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONCE

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DATA_DIR = Path(environ.Env().str("KANGROW_DATA_DIR", default=str(BASE_DIR / "data")))

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "kangrow.web.admin.apps.KanGrowAdminConfig",  # django.contrib.admin, TOTP-secured site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "django_htmx",
    "csp",
    "chartkick.django",
    "ninja",
    "kangrow.core",
    "kangrow.accounts",
    "kangrow.programs",
    "kangrow.tracking",
    "kangrow.ledger",
    "kangrow.notifications",
    "kangrow.onboarding",
    "kangrow.apikeys",
    "kangrow.webhooks_out",
    "kangrow.payouts",
    "kangrow.reports",
    "kangrow.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "kangrow.accounts.middleware.SessionTokenAuthMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "kangrow" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
                "kangrow.web.dashboard.context_processors.notifications",
                "kangrow.web.portal.context_processors.onboarding",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'kangrow.sqlite3'}"),
}
# A streaming replica of the primary (docs/scaling.md): the affiliate's dashboard figures and
# referral table read from it (kangrow.core.replica); everything else uses the primary.
if env.str("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = env.db_url("DATABASE_REPLICA_URL")
KANGROW_READ_REPLICA = "replica" in DATABASES
DATABASE_ROUTERS = ["kangrow.core.replica.ReplicaRouter"]
for _db in DATABASES.values():
    _db.setdefault("ATOMIC_REQUESTS", False)
    # Persistent connections (bench/: a new PostgreSQL connection per request cost the tracking
    # redirect 90% of its throughput); health-checked so a restarted database is survived.
    _db.setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    _db.setdefault("CONN_HEALTH_CHECKS", True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    if str(DATABASES["default"]["NAME"]) not in ("", ":memory:"):
        # a fresh clone has no data folder yet: SQLite would fail with "unable to open"
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL lets the dev server and an inline job write without "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault(
        "init_command", "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000;"
    )
    DATABASES["default"]["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# POST /api/v1/events reads its app (and signing secret) from a per-process memory of this many
# seconds instead of a query per request; a signature that does not match is checked again
# against the database, so a rotated secret works at once; the retired one is still accepted by
# a process for at most this long (capped at 30 s).
APP_CACHE_SECONDS = min(max(env.float("APP_CACHE_SECONDS", default=5.0), 0.0), 30.0)
# A queued drain of money events starts this long after the event that asked for it, so it
# takes what arrives meanwhile as one batch (kangrow.ledger.api._schedule_drain; 0 = at once).
KANGROW_EVENTS_DRAIN_DELAY_MS = min(
    max(env.int("KANGROW_EVENTS_DRAIN_DELAY_MS", default=250), 0), 5000
)

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "kangrow.accounts.backends.EmailPasswordBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "kangrow.accounts.validators.MaximumLengthValidator", "OPTIONS": {"max_length": 72}},
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "accounts:log_in"
LOGIN_REDIRECT_URL = "/dashboard/"

# Django's session carries the raw users_tokens session token (and CSRF, messages, OTP state).
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
SESSION_COOKIE_NAME = "_kangrow_session"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = int(timedelta(days=14).total_seconds())
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
CSRF_COOKIE_HTTPONLY = True

# django-axes: brute force limits per account and per IP.
AXES_FAILURE_LIMIT = env.int("KANGROW_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_USERNAME_FORM_FIELD = "email"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_VERBOSE = False
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]

OTP_TOTP_ISSUER = "KanGrow"
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # the admin never shows a colleague's TOTP secret

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "kangrow" / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = DATA_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# EMAIL_URL: smtp://user:pass@host:port, consolemail://, filemail:///dir (one file per email).
_email_url = env.str("EMAIL_URL", default=f"filemail://{DATA_DIR / 'outbox'}")
if _email_url.startswith("filemail://"):
    EMAIL_BACKEND = "kangrow.core.mail.OneFilePerMessageBackend"
    EMAIL_FILE_PATH = _email_url.removeprefix("filemail://") or str(DATA_DIR / "outbox")
else:
    vars().update(env.email_url_config(_email_url))
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="KanGrow <no-reply@kangrow.local>")
KANGROW_BASE_URL = env.str("KANGROW_BASE_URL", default="http://127.0.0.1:8000")
# Salt of the HMAC that hashes click IPs; empty derives one from SECRET_KEY.
KANGROW_IP_HASH_SALT = env.str("KANGROW_IP_HASH_SALT", default="")

# Background jobs: Celery on Redis when REDIS_URL is set, inline otherwise.
REDIS_URL = env.str("REDIS_URL", default="")
# /r/<token> appends its click to a Redis stream instead of inserting it (REDIS_URL set, on by
# default); Redis answering slower than the timeout (seconds) makes the request insert it.
KANGROW_CLICK_BUFFER = env.bool("KANGROW_CLICK_BUFFER", default=bool(REDIS_URL))
KANGROW_CLICK_BUFFER_TIMEOUT = env.float("KANGROW_CLICK_BUFFER_TIMEOUT", default=0.2)
# Batching (buffer on): the request only queues its click in process; one thread per process
# sends the queue to Redis in one pipelined round trip, at most this many milliseconds after
# the first click queued (sooner at 500). A killed process (SIGKILL, OOM) loses at most that
# interval's clicks; a graceful stop (SIGTERM, --max-requests restart) sends them first. If
# Redis fails the thread inserts the batch itself. 0: one XADD on the request thread instead.
KANGROW_CLICK_BATCH_MS = env.int("KANGROW_CLICK_BATCH_MS", default=20)
KANGROW_CLICK_DRAIN_SECONDS = env.float("KANGROW_CLICK_DRAIN_SECONDS", default=1.0)
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_BROKER_CONNECTION_TIMEOUT = 5
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_timeout": 5, "socket_connect_timeout": 5}
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict = {}
# Tracking: clicks wait in a Redis stream (REDIS_URL set) and are copied into the clicks table in
# batches; dashboards count a click about a second after it happened.
CELERY_BEAT_SCHEDULE["tracking-drain-clicks"] = {
    "task": "tracking.drain_clicks",
    "schedule": KANGROW_CLICK_DRAIN_SECONDS,
    "options": {"expires": KANGROW_CLICK_DRAIN_SECONDS * 5},  # a late drain is replaced, not queued
}
# Ledger and notifications: retry waiting/failed events, end hold periods, resend failed emails.
CELERY_BEAT_SCHEDULE["ledger-process-due-events"] = {
    "task": "ledger.process_due_events",
    "schedule": 60.0,
}
CELERY_BEAT_SCHEDULE["ledger-mature-commissions"] = {
    "task": "ledger.mature_commissions",
    "schedule": 15 * 60.0,
}
CELERY_BEAT_SCHEDULE["notifications-deliver-due-emails"] = {
    "task": "notifications.deliver_due_emails",
    "schedule": 60.0,
}
# Payouts: a run for everyone eligible (KANGROW_PAYOUT_SCHEDULE, crontab fields, default the
# 1st of each month 09:00 UTC), and a PayPal status sync catching what webhooks miss.
_payout_cron = env.str("KANGROW_PAYOUT_SCHEDULE", default="0 9 1 * *").split()
if len(_payout_cron) != 5:
    raise ValueError("KANGROW_PAYOUT_SCHEDULE needs five crontab fields, e.g. '0 9 1 * *'")
CELERY_BEAT_SCHEDULE["payouts-run-scheduled"] = {
    "task": "payouts.run_scheduled",
    "schedule": crontab(
        minute=_payout_cron[0],
        hour=_payout_cron[1],
        day_of_month=_payout_cron[2],
        month_of_year=_payout_cron[3],
        day_of_week=_payout_cron[4],
    ),
}
CELERY_BEAT_SCHEDULE["payouts-sync-open-batches"] = {
    "task": "payouts.sync_open_batches",
    "schedule": 10 * 60.0,
}

# Outbound webhooks: retry due deliveries.
CELERY_BEAT_SCHEDULE["webhooks-out-deliver-due"] = {
    "task": "webhooks_out.deliver_due",
    "schedule": 60.0,
}
# JSON API rate limits (ninja throttles): per API key or affiliate token, and per IP on /auth/*.
KANGROW_API_RATE = env.str("KANGROW_API_RATE", default="600/min")
KANGROW_API_AUTH_RATE = env.str("KANGROW_API_AUTH_RATE", default="20/min")
NINJA_PAGINATION_PER_PAGE = 50
NINJA_PAGINATION_MAX_LIMIT = 100

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_timeout": 2, "socket_connect_timeout": 2},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

PAYPAL_CLIENT_ID = env.str("PAYPAL_CLIENT_ID", default="")
PAYPAL_CLIENT_SECRET = env.str("PAYPAL_CLIENT_SECRET", default="")
PAYPAL_API_BASE = env.str("PAYPAL_API_BASE", default="https://api-m.sandbox.paypal.com")
PAYPAL_WEBHOOK_ID = env.str("PAYPAL_WEBHOOK_ID", default="")
KANGROW_PAYOUT_MINIMUM = env.int("KANGROW_PAYOUT_MINIMUM", default=10000)
# Batches of a payout run claimed side by side on PostgreSQL, each on its own connection
# (a run of this many × 1,000 payees or more is cut into at least this many batches).
KANGROW_PAYOUT_CLAIM_WORKERS = min(max(env.int("KANGROW_PAYOUT_CLAIM_WORKERS", default=2), 1), 8)

# Content Security Policy (django-csp 4): everything from our own origin, scripts by nonce.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", NONCE],  # the per-request nonce, not the literal word
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}
