"""What the portal's templates show, computed from the programs context's rows: terms in words,
share texts, QR codes. Presentation only: no database access here."""

from __future__ import annotations

import io
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import qrcode
import qrcode.image.svg

from kangrow.programs import api as programs


def terms_label(*, commission_bps: int, recurring: bool, recurring_months: int | None) -> str:
    """ "30% for 12 months", "30% for life" or "30% one-time"."""
    rate = programs.percent_label(bps=commission_bps)
    if not recurring:
        return f"{rate} one-time"
    if recurring_months is None:
        return f"{rate} for life"
    unit = "month" if recurring_months == 1 else "months"
    return f"{rate} for {recurring_months} {unit}"


@dataclass(frozen=True)
class CampaignCard:
    slug: str
    name: str
    description: str
    app_name: str
    app_slug: str
    rate: str
    terms: str
    discount: str  # "" when none
    cookie_days: int
    hold_days: int
    by_approval: bool
    enrollment_status: str | None  # None when never joined
    coupon_code: str = ""
    error: str = ""


def campaign_card(campaign, enrollment=None, error: str = "") -> CampaignCard:  # type: ignore[no-untyped-def]
    discount = campaign.customer_discount_bps
    return CampaignCard(
        slug=campaign.slug,
        name=campaign.name,
        description=campaign.description,
        app_name=campaign.app.name,
        app_slug=campaign.app.slug,
        rate=programs.percent_label(bps=campaign.commission_bps),
        terms=terms_label(
            commission_bps=campaign.commission_bps,
            recurring=campaign.recurring,
            recurring_months=campaign.recurring_months,
        ),
        discount=programs.percent_label(bps=discount) if discount else "",
        cookie_days=campaign.cookie_days,
        hold_days=campaign.hold_days,
        by_approval=campaign.visibility == "approval",
        enrollment_status=getattr(enrollment, "status", None),
        coupon_code=getattr(enrollment, "coupon_code", ""),
        error=error,
    )


@dataclass(frozen=True)
class ShareTexts:
    email_subject: str
    email_body: str
    mailto: str
    tweet: str
    tweet_url: str
    linkedin: str
    linkedin_url: str


def share_texts(
    *, app_name: str, value_proposition: str, discount: str, code: str, link: str
) -> ShareTexts:
    pitch = " ".join(value_proposition.split()) or f"{app_name} is worth a look."
    offer = f"Use my code {code} for {discount} off." if discount else f"Use my code {code}."
    subject = f"You should try {app_name}"
    body = (
        f"Hi,\n\nI've been recommending {app_name}. {pitch}\n\n{offer}\n"
        f"Start here: {link}\n\nCheers"
    )
    tweet = f"{app_name}: {pitch} {offer} {link}"
    linkedin = f"I recommend {app_name}. {pitch}\n\n{offer}\n{link}"
    return ShareTexts(
        email_subject=subject,
        email_body=body,
        mailto=f"mailto:?subject={quote(subject)}&body={quote(body)}",
        tweet=tweet,
        tweet_url="https://twitter.com/intent/tweet?" + urlencode({"text": tweet}),
        linkedin=linkedin,
        linkedin_url="https://www.linkedin.com/sharing/share-offsite/?" + urlencode({"url": link}),
    )


def qr_svg(link: str) -> bytes:
    image = qrcode.make(link, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    return image.to_string(encoding="utf-8")  # type: ignore[no-any-return]


def qr_png(link: str) -> bytes:
    image = qrcode.make(link, box_size=10, border=2)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
