"""Demo clicks and referrals for `manage.py demo` (idempotent): a few hundred clicks over the
last 60 days on the demo enrollments, and several referred customers (by coupon and by link).

Runs after kangrow.programs.demo. Customer ids are fixed (demo_<app>_NN), so a second run finds
the same referrals; clicks are added only when the demo enrollments have none yet."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import TextIO

from django.utils import timezone

from kangrow.accounts import api as accounts
from kangrow.programs import api as programs

from . import api
from .models import Click

AFFILIATES = ("affiliate@kangrow.local", "maria@kangrow.local")
SOURCES = [
    ("newsletter", "email", "https://news.example/issue-42"),
    ("youtube", "video", "https://www.youtube.com/"),
    ("blog", "referral", "https://blog.example/best-invoicing-tools"),
    ("twitter", "social", "https://t.co/"),
    ("", "", ""),
]
AGENTS = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
]
CUSTOMER_NAMES = ["olivia", "noah", "emma", "liam", "ava", "lucas", "mia", "leo", "zoe", "ethan"]


def _live_enrollments() -> list[programs.EnrollmentRef]:
    found = []
    for email in AFFILIATES:
        user = accounts.get_user_by_email(email=email)
        if user is not None:
            found += [e for e in programs.list_enrollments(affiliate_id=user.id) if e.is_live()]
    return sorted(found, key=lambda e: (e.affiliate_email, e.campaign_slug))


def load(stdout: TextIO) -> None:
    enrollments = _live_enrollments()
    if not enrollments:
        stdout.write("Skipping demo clicks and referrals: no demo enrollments.\n")
        return
    rng = random.Random(20261125)  # noqa: S311 - demo data, not security
    now = timezone.now()

    ids = [e.id for e in enrollments]
    if not Click.objects.filter(enrollment_id__in=ids).exists():
        for n in range(360):
            e = enrollments[n % len(enrollments)]
            source, medium, referrer = rng.choice(SOURCES)
            api.record_click(
                token=e.token,
                ip=f"198.51.100.{rng.randint(1, 254)}",
                user_agent=rng.choice(AGENTS),
                referrer=referrer,
                utm={"utm_source": source, "utm_medium": medium, "utm_campaign": e.campaign_slug},
                clicked_at=now - timedelta(days=rng.uniform(0, 60)),
            )
        api.drain_click_buffer(wait=10.0)  # buffered (REDIS_URL set): into the table now
    clicks = Click.objects.filter(enrollment_id__in=ids).count()

    made = 0
    for index, e in enumerate(enrollments):
        for k in range(3):
            customer = CUSTOMER_NAMES[(index * 3 + k) % len(CUSTOMER_NAMES)]
            customer_id = f"demo_{e.app_slug}_{index:02d}{k}"
            by_coupon = k != 1
            if by_coupon:
                occurred_at = now - timedelta(days=5 + 9 * k + index)
            else:
                last_click = Click.objects.filter(enrollment_id=e.id).order_by("clicked_at").first()
                if last_click is None:
                    continue
                occurred_at = last_click.clicked_at + timedelta(hours=3)
            referral = api.attribute_customer(
                app_id=e.app_id,
                customer_id=customer_id,
                email=f"{customer}.{index}{k}@customer.example",
                coupon=e.coupon_code if by_coupon else None,
                ref=None if by_coupon else e.token,
                occurred_at=min(occurred_at, now),
            )
            made += referral is not None
    stdout.write(f"{clicks} demo clicks and {made} demo referrals ready.\n")
