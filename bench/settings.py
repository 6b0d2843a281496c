"""Production settings plus the bench-only URLconf (the framework-floor view). Used only by the
benchmarks' own servers; never by the product."""

from config.settings.production import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
