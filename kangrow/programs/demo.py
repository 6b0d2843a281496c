"""Demo programs for `manage.py demo` (idempotent): the company, three apps with real-sounding
briefs, two or three campaigns each, and two approved affiliates enrolled in several of them.

Runs after kangrow.accounts.demo, which creates affiliate@kangrow.local."""

from __future__ import annotations

from typing import Any, TextIO

from kangrow.accounts import api as accounts

from . import api

SECOND_AFFILIATE = "maria@kangrow.local"
DEMO_PASSWORD = "kangrow-demo-pass"

COMPANY = {
    "name": "Kanvas Labs",
    "mission": (
        "We build small, sharp SaaS tools for independent businesses: software that does one job "
        "well, costs little, and never holds your data hostage."
    ),
    "goals": (
        "Reach 10,000 paying customers across our apps by the end of next year, mostly through "
        "people who already use and trust our tools. Affiliates are partners: we pay at least "
        "30% recurring, tell you exactly what you earned and lost, and teach you who each app "
        "is for so you recommend it only where it fits."
    ),
}

APPS: list[dict[str, Any]] = [
    {
        "slug": "invoicepro",
        "name": "InvoicePro",
        "site_url": "https://invoicepro.example/",
        "landing_url": "https://invoicepro.example/start",
        "currency": "USD",
        "brand_color": "#2563EB",
        "goals": "Get freelancers and small agencies paid faster, with less chasing.",
        "ideal_customer": (
            "Freelancers and agencies of 1-20 people who send 5-100 invoices a month and still "
            "use spreadsheets or a word processor."
        ),
        "value_proposition": (
            "Branded invoices in a minute, automatic reminders, card and bank payments, and a "
            "clear view of who owes what. Customers get paid 9 days sooner on average."
        ),
        "pricing": "Solo $12/month, Team $29/month, Agency $79/month; 14-day free trial.",
        "talking_points": (
            "Show the reminder schedule: it is what customers love most.\n"
            "Mention the free trial and that no card is needed to start.\n"
            "Compare the price with one late invoice."
        ),
        "dos_and_donts": (
            "Do show real screenshots. Don't promise tax or legal advice. Don't bid on the "
            "brand name in search ads."
        ),
    },
    {
        "slug": "mailpilot",
        "name": "MailPilot",
        "site_url": "https://mailpilot.example/",
        "landing_url": "https://mailpilot.example/",
        "currency": "USD",
        "brand_color": "#16A34A",
        "goals": "Give small online shops email marketing that runs itself.",
        "ideal_customer": (
            "Shop owners on Shopify or WooCommerce with 500-50,000 subscribers who send "
            "newsletters by hand or not at all."
        ),
        "value_proposition": (
            "Ready-made flows (welcome, abandoned cart, win-back) that start earning the day "
            "they are switched on, with deliverability handled for you."
        ),
        "pricing": "From $19/month for 2,500 contacts; pay yearly for two months free.",
        "talking_points": (
            "Abandoned-cart flow pays for the plan on its own for most shops.\n"
            "Migration from other tools is free and done for them."
        ),
        "dos_and_donts": "Do target shop owners. Don't use bought lists or spam to promote it.",
    },
    {
        "slug": "shipfast",
        "name": "ShipFast",
        "site_url": "https://shipfast.example/",
        "landing_url": "https://shipfast.example/try",
        "currency": "EUR",
        "brand_color": "#EA580C",
        "goals": "Cut the time a small warehouse spends on shipping labels and tracking emails.",
        "ideal_customer": (
            "European e-commerce businesses shipping 50-2,000 parcels a week with several carriers."
        ),
        "value_proposition": (
            "One screen for every carrier: cheapest rate picked automatically, labels in bulk, "
            "branded tracking pages that bring customers back to the shop."
        ),
        "pricing": "Starter €29/month, Growth €89/month, Scale €249/month.",
        "talking_points": (
            "Customers save 4-6 hours a week on labels.\n"
            "Branded tracking pages turn 'where is my parcel' into repeat sales."
        ),
        "dos_and_donts": "Do mention supported carriers accurately. Don't quote delivery times.",
    },
]

CAMPAIGNS: list[dict[str, Any]] = [
    {
        "slug": "invoicepro-launch",
        "app": "invoicepro",
        "name": "InvoicePro launch",
        "description": "30% of every payment for the first 12 months; customers get 20% off.",
        "commission_bps": 3000,
        "recurring": True,
        "recurring_months": 12,
        "cookie_days": 60,
        "customer_discount_bps": 2000,
    },
    {
        "slug": "invoicepro-lifetime",
        "app": "invoicepro",
        "name": "InvoicePro lifetime partners",
        "description": "35% for the lifetime of each customer, for partners we approve.",
        "commission_bps": 3500,
        "recurring": True,
        "recurring_months": None,
        "cookie_days": 90,
        "visibility": "approval",
    },
    {
        "slug": "mailpilot-partners",
        "app": "mailpilot",
        "name": "MailPilot partners",
        "description": "30% lifetime recurring on every shop you bring.",
        "commission_bps": 3000,
        "recurring": True,
        "recurring_months": None,
        "cookie_days": 60,
    },
    {
        "slug": "mailpilot-black-friday",
        "app": "mailpilot",
        "name": "MailPilot Black Friday",
        "description": "40% for 6 months and 25% off for customers, during the season.",
        "commission_bps": 4000,
        "recurring": True,
        "recurring_months": 6,
        "cookie_days": 30,
        "customer_discount_bps": 2500,
    },
    {
        "slug": "shipfast-launch",
        "app": "shipfast",
        "name": "ShipFast launch",
        "description": "30% recurring for 24 months.",
        "commission_bps": 3000,
        "recurring": True,
        "recurring_months": 24,
        "cookie_days": 45,
    },
    {
        "slug": "shipfast-agencies",
        "app": "shipfast",
        "name": "ShipFast agency referrals",
        "description": "A one-off 50% of the first payment, for agencies setting up clients.",
        "commission_bps": 5000,
        "recurring": False,
        "cookie_days": 30,
        "visibility": "approval",
    },
]

ENROLLMENTS = {
    "affiliate@kangrow.local": [
        "invoicepro-launch",
        "invoicepro-lifetime",
        "mailpilot-partners",
        "shipfast-launch",
    ],
    SECOND_AFFILIATE: ["invoicepro-launch", "mailpilot-black-friday", "shipfast-agencies"],
}


def load(stdout: TextIO) -> None:
    api.update_company_profile(**COMPANY)
    for entry in APPS:
        fields = {k: v for k, v in entry.items() if k != "slug"}
        api.upsert_app(slug=entry["slug"], fields=fields)
    for entry in CAMPAIGNS:
        fields = {k: v for k, v in entry.items() if k not in ("slug", "app")}
        api.upsert_campaign(slug=entry["slug"], app_slug=entry["app"], fields=fields)
    stdout.write(f"Company, {len(APPS)} apps and {len(CAMPAIGNS)} campaigns ready.\n")

    accounts.upsert_affiliate(
        email=SECOND_AFFILIATE, password=DEMO_PASSWORD, verified=True, approved=True
    )
    for email, slugs in ENROLLMENTS.items():
        user = accounts.get_user_by_email(email=email)
        if user is None:
            stdout.write(f"Skipping enrollments of {email}: no such user.\n")
            continue
        codes = []
        for slug in slugs:
            ref = api.join_campaign(affiliate_id=user.id, campaign_slug=slug)
            if ref.status == "pending":
                ref = api.approve_enrollment(enrollment_id=ref.id)
            codes.append(ref.coupon_code)
        stdout.write(f"{email} enrolled: {', '.join(codes)}\n")
