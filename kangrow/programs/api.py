"""The programs context's public API: company profile, apps, campaigns, enrollments.

Other contexts and the web layer call only these functions; they return the frozen dataclasses
below (or this context's models, for the admin). Every rule that protects money is also a
database constraint (see models.py); the checks here exist to give a clear message first.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import random
import re
import secrets
import time
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from kangrow.core.money import normalize_currency
from kangrow.webhooks_out import api as webhooks_out_api

from .models import MAX_BPS, RECURRING_FLOOR_BPS, App, Campaign, CompanyProfile, Enrollment

# Shared-cache lifetime of a resolved link: every change goes through this module and drops the
# entry on commit (refresh_link_cache), but a process that read the link just before a change
# committed may write the old value back after that drop, so the lifetime bounds how long a
# resumed campaign can still look paused (its clicks unrecorded). Jittered, so the links of a
# campaign mail do not all expire and hit the database together.
LINK_CACHE_SECONDS = 60
# Each web process also keeps resolved links in memory this long (no Redis round trip per
# click): a left enrollment or a paused campaign may still count clicks for up to this long
# in other processes (attribution checks the enrollment again, so it never earns from them).
LINK_LOCAL_SECONDS = 30.0
LINK_LOCAL_MAX = 10_000
_local_links: dict[str, tuple[float, _Link | None]] = {}
log = logging.getLogger(__name__)
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{8,32}$")
COUPON_RE = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,63}$")


class ProgramError(Exception):
    """A request the programs context refuses, with a stable code and the offending field."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


@dataclass(frozen=True)
class Terms:
    """The commercial terms a referral keeps for life."""

    commission_bps: int
    recurring: bool
    recurring_months: int | None  # None = lifetime
    hold_days: int
    cookie_days: int


@dataclass(frozen=True)
class AppRef:
    id: UUID
    slug: str
    name: str
    currency: str
    signing_secret: str
    stripe_endpoint_secret: str
    site_url: str = ""
    landing_url: str = ""
    is_active: bool = True


@dataclass(frozen=True)
class EnrollmentRef:
    id: UUID
    affiliate_id: UUID
    affiliate_email: str
    campaign_id: UUID
    campaign_slug: str
    campaign_name: str
    app_id: UUID
    app_slug: str
    app_name: str
    currency: str
    coupon_code: str
    token: str
    status: str  # "active", "pending", "rejected", "left"
    terms: Terms  # current terms (enrollment override applied)
    campaign_status: str = "active"
    campaign_starts_at: datetime | None = None
    campaign_ends_at: datetime | None = None
    app_active: bool = True
    customer_discount_bps: int | None = None
    landing_url: str = ""

    def is_live(self, at: datetime | None = None) -> bool:
        """Active enrollment in an active campaign (within its dates) of an active app."""
        at = at or timezone.now()
        return (
            self.status == Enrollment.Status.ACTIVE
            and self.campaign_status == Campaign.Status.ACTIVE
            and self.app_active
            and (self.campaign_starts_at is None or self.campaign_starts_at <= at)
            and (self.campaign_ends_at is None or at < self.campaign_ends_at)
        )


@dataclass(frozen=True)
class LinkTarget:
    """What /r/<token> needs, cached: where to send the visitor and what to record."""

    enrollment_id: UUID
    campaign_id: UUID
    app_id: UUID
    live: bool
    landing_url: str  # the campaign's landing URL, else the app's, else its site
    site_url: str


# --- secrets and codes -------------------------------------------------------------------------


def generate_signing_secret() -> str:
    """A Standard Webhooks secret: "whsec_" + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _new_token() -> str:
    return secrets.token_urlsafe(9)  # 12 characters, 72 bits


def _ascii_upper(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return folded.upper()


def coupon_base(*, first_name: str | None, email: str, rate_bps: int, app_slug: str) -> str:
    """FIRSTNAME + rate + "-" + APPSLUG, e.g. JANE30-INVOICEPRO (A-Z, 0-9 and '-')."""
    candidates = (first_name or "", email.split("@", 1)[0].split("+", 1)[0])
    cleaned = (re.sub(r"[^A-Z0-9]", "", _ascii_upper(c))[:12] for c in candidates)
    name = next((c for c in cleaned if c), "PARTNER")
    app = re.sub(r"[^A-Z0-9]+", "-", _ascii_upper(app_slug)).strip("-")[:24] or "APP"
    return f"{name}{rate_bps // 100}-{app}"


def normalize_coupon(code: str) -> str | None:
    """The stored form of a coupon code, or None when it cannot be one."""
    if not isinstance(code, str):
        return None
    value = code.strip().upper()
    return value if COUPON_RE.match(value) else None


# --- reads -------------------------------------------------------------------------------------


def _terms(enrollment: Enrollment) -> Terms:
    campaign = enrollment.campaign
    return Terms(
        commission_bps=enrollment.commission_bps_override or campaign.commission_bps,
        recurring=campaign.recurring,
        recurring_months=campaign.recurring_months,
        hold_days=campaign.hold_days,
        cookie_days=campaign.cookie_days,
    )


def _app_ref(app: App) -> AppRef:
    return AppRef(
        id=app.id,
        slug=app.slug,
        name=app.name,
        currency=app.currency,
        signing_secret=app.signing_secret,
        stripe_endpoint_secret=app.stripe_endpoint_secret,
        site_url=app.site_url,
        landing_url=app.landing_url,
        is_active=app.is_active,
    )


def _enrollment_ref(e: Enrollment) -> EnrollmentRef:
    campaign, app = e.campaign, e.campaign.app
    return EnrollmentRef(
        id=e.id,
        affiliate_id=e.affiliate_id,
        affiliate_email=e.affiliate.email,
        campaign_id=campaign.id,
        campaign_slug=campaign.slug,
        campaign_name=campaign.name,
        app_id=app.id,
        app_slug=app.slug,
        app_name=app.name,
        currency=app.currency,
        coupon_code=e.coupon_code,
        token=e.token,
        status=e.status,
        terms=_terms(e),
        campaign_status=campaign.status,
        campaign_starts_at=campaign.starts_at,
        campaign_ends_at=campaign.ends_at,
        app_active=app.is_active,
        customer_discount_bps=campaign.customer_discount_bps,
        landing_url=campaign.landing_url or app.landing_url or app.site_url,
    )


def _enrollments():  # type: ignore[no-untyped-def]
    return Enrollment.objects.select_related("campaign__app", "affiliate")


# Apps read by slug in the last few seconds, per process (POST /api/v1/events reads its app on
# every request). Only found apps are kept; nothing leaves the process.
_apps_by_slug: dict[str, tuple[float, AppRef]] = {}


def get_app_by_slug(*, slug: str, cached: bool = False) -> AppRef | None:
    """The app with this slug. `cached`: an app this process read within the last
    settings.APP_CACHE_SECONDS may be answered from memory without a query (so a changed secret
    or slug is seen that much later; a caller whose check fails asks again uncached)."""
    if not isinstance(slug, str) or "\x00" in slug or len(slug) > 60:
        return None
    max_age = getattr(settings, "APP_CACHE_SECONDS", 0) if cached else 0
    now = time.monotonic()
    if max_age > 0:
        hit = _apps_by_slug.get(slug)
        if hit is not None and now - hit[0] < max_age:
            return hit[1]
    app = App.objects.filter(slug=slug).first()
    if app is None:
        _apps_by_slug.pop(slug, None)
        return None
    ref = _app_ref(app)
    if max_age > 0:
        if len(_apps_by_slug) > 10_000:  # bounded, whatever the number of apps
            _apps_by_slug.clear()
        _apps_by_slug[slug] = (now, ref)
    return ref


def get_app(*, app_id: UUID) -> AppRef | None:
    app = App.objects.filter(id=app_id).first()
    return _app_ref(app) if app else None


def list_apps() -> list[AppRef]:
    return [_app_ref(a) for a in App.objects.order_by("name")]


def get_enrollment(*, enrollment_id: UUID) -> EnrollmentRef | None:
    e = _enrollments().filter(id=enrollment_id).first()
    return _enrollment_ref(e) if e else None


def get_enrollment_by_coupon(*, code: str) -> EnrollmentRef | None:
    """Case-insensitive: codes are stored upper-case and looked up upper-case."""
    value = normalize_coupon(code)
    if value is None:
        return None
    e = _enrollments().filter(coupon_code=value).first()
    return _enrollment_ref(e) if e else None


def get_enrollment_by_token(*, token: str) -> EnrollmentRef | None:
    if not isinstance(token, str) or not TOKEN_RE.match(token):
        return None
    e = _enrollments().filter(token=token).first()
    return _enrollment_ref(e) if e else None


def list_enrollments(*, affiliate_id: UUID) -> list[EnrollmentRef]:
    return [_enrollment_ref(e) for e in _enrollments().filter(affiliate_id=affiliate_id)]


def get_company_profile() -> CompanyProfile | None:
    return CompanyProfile.objects.first()


def _link_cache_key(token: str) -> str:
    return "kangrow:link:" + hashlib.sha256(token.encode()).hexdigest()[:40]


@dataclass(frozen=True, slots=True)
class _Link:
    """A resolved link in this process's memory: both answers made once, so a click only
    checks the campaign's dates (when it has any)."""

    live: LinkTarget
    dead: LinkTarget  # the same with live=False
    active: bool  # enrollment, campaign and app active
    starts_at: datetime | None
    ends_at: datetime | None

    def target(self) -> LinkTarget:
        if not self.active:
            return self.dead
        if self.starts_at is None and self.ends_at is None:
            return self.live
        now = timezone.now()
        if (self.starts_at is None or self.starts_at <= now) and (
            self.ends_at is None or now < self.ends_at
        ):
            return self.live
        return self.dead

    @classmethod
    def of(cls, cached: dict[str, Any]) -> _Link:
        """From the shared cache's fields (ids as text: parsed once per process and TTL)."""
        target = LinkTarget(
            enrollment_id=UUID(cached["enrollment_id"]),
            campaign_id=UUID(cached["campaign_id"]),
            app_id=UUID(cached["app_id"]),
            live=True,
            landing_url=cached["landing_url"],
            site_url=cached["site_url"],
        )
        return cls(
            live=target,
            dead=replace(target, live=False),
            active=cached["status"] == Enrollment.Status.ACTIVE
            and cached["campaign_status"] == Campaign.Status.ACTIVE
            and cached["app_active"],
            starts_at=cached["starts_at"],
            ends_at=cached["ends_at"],
        )


def _cached_link(token: str) -> _Link | None:
    """The link (None for an unknown token): this process's memory first, then the shared
    cache, then one query. A failing shared cache (Redis down) is skipped."""
    now = time.monotonic()
    local = _local_links.get(token)
    if local is not None and local[0] > now:
        return local[1]
    key = _link_cache_key(token)
    try:
        cached = cache.get(key)
    except Exception:  # noqa: BLE001 - the cache is an optimisation; the database answers
        log.warning("link cache unavailable; reading the link from the database", exc_info=True)
        cached = None
    if cached is None:
        e = _enrollments().filter(token=token).first()
        if e is None:
            cached = {}
        else:
            ref = _enrollment_ref(e)
            cached = {
                "enrollment_id": str(ref.id),
                "campaign_id": str(ref.campaign_id),
                "app_id": str(ref.app_id),
                "status": ref.status,
                "campaign_status": ref.campaign_status,
                "starts_at": ref.campaign_starts_at,
                "ends_at": ref.campaign_ends_at,
                "app_active": ref.app_active,
                "landing_url": ref.landing_url,
                "site_url": e.campaign.app.site_url,
            }
        try:
            ttl = int(LINK_CACHE_SECONDS * (0.8 + 0.2 * random.random()))  # noqa: S311 - spread
            cache.set(key, cached, ttl)
        except Exception:  # noqa: BLE001
            log.warning("link cache unavailable; not caching the link", exc_info=True)
    link = _Link.of(cached) if cached else None
    if len(_local_links) >= LINK_LOCAL_MAX:
        _local_links.clear()  # bounded: a flood of distinct tokens cannot grow the process
    # 75-100 % of the TTL: links first seen together (a deploy, a campaign mail) do not all
    # expire in the same second and send every request of that second to Redis or the database
    ttl = LINK_LOCAL_SECONDS * (0.75 + 0.25 * random.random())  # noqa: S311 - not a secret
    _local_links[token] = (now + ttl, link)
    return link


def forget_local_links() -> None:
    """Empty this process's memory of resolved links (tests; the shared cache is separate)."""
    _local_links.clear()


def resolve_link(*, token: str) -> LinkTarget | None:
    """The target of /r/<token>, from this process's memory (LINK_LOCAL_SECONDS) or the shared
    cache (LINK_CACHE_SECONDS) when possible; one query otherwise.

    Unknown tokens are cached too (as a miss), so a burst of junk costs one query per token."""
    if not isinstance(token, str) or not TOKEN_RE.match(token):
        return None
    link = _cached_link(token)
    return None if link is None else link.target()


def refresh_link_cache(
    *,
    enrollment_id: UUID | None = None,
    campaign_id: UUID | None = None,
    app_id: UUID | None = None,
) -> None:
    """Drop cached link targets after an enrollment, campaign or app changed (on commit): from
    the shared cache and this process's memory; other processes' memory expires within
    LINK_LOCAL_SECONDS."""
    qs = Enrollment.objects.all()
    if enrollment_id is not None:
        qs = qs.filter(id=enrollment_id)
    elif campaign_id is not None:
        qs = qs.filter(campaign_id=campaign_id)
    elif app_id is not None:
        qs = qs.filter(campaign__app_id=app_id)
    else:
        return
    tokens = list(qs.values_list("token", flat=True))
    keys = [_link_cache_key(t) for t in tokens]

    def _drop() -> None:
        for t in tokens:
            _local_links.pop(t, None)
        if keys:
            try:
                cache.delete_many(keys)
            except Exception:  # noqa: BLE001 - entries expire after LINK_CACHE_SECONDS anyway
                log.warning("link cache unavailable; stale links expire on their own")

    _drop()
    transaction.on_commit(_drop)


# --- writes: company, apps, campaigns ----------------------------------------------------------


def _validated(instance: Any, *, prefix: str = "") -> None:
    """Model validation turned into a ProgramError naming the first bad field."""
    try:
        instance.full_clean(validate_unique=True, validate_constraints=False)
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        name = field if field != "__all__" else ""
        raise ProgramError("invalid", messages[0], prefix + name if name else None)


def _check_text(fields: dict[str, Any]) -> None:
    for name, value in fields.items():
        if isinstance(value, str) and "\x00" in value:
            raise ProgramError("invalid", "contains a NUL character, which is not allowed", name)


def update_company_profile(*, name: str, mission: str = "", goals: str = "") -> CompanyProfile:
    _check_text({"name": name, "mission": mission, "goals": goals})
    profile = CompanyProfile.objects.first() or CompanyProfile()
    profile.name, profile.mission, profile.goals = name, mission, goals
    _validated(profile)
    profile.save()
    return profile


APP_FIELDS = (
    "name",
    "site_url",
    "landing_url",
    "goals",
    "ideal_customer",
    "value_proposition",
    "pricing",
    "talking_points",
    "dos_and_donts",
    "currency",
    "signing_secret",
    "stripe_endpoint_secret",
    "brand_color",
    "is_active",
)


@transaction.atomic
def upsert_app(*, slug: str, fields: dict[str, Any]) -> tuple[App, bool, str | None]:
    """Create the app `slug` or update the given fields. Returns (app, created, new_secret):
    new_secret is the generated signing secret, set only when one was generated now."""
    unknown = set(fields) - set(APP_FIELDS)
    if unknown:
        raise ProgramError("invalid", "unknown field", sorted(unknown)[0])
    _check_text({"slug": slug, **fields})
    if "currency" in fields:
        try:
            fields = {**fields, "currency": normalize_currency(fields["currency"])}
        except ValueError as exc:
            raise ProgramError("invalid", str(exc), "currency")
    secret = fields.get("signing_secret")
    if secret is not None and not _is_whsec(secret):
        raise ProgramError(
            "invalid", "must be whsec_ followed by base64 of at least 24 bytes", "signing_secret"
        )
    app = App.objects.select_for_update().filter(slug=slug).first()
    created = app is None
    generated = None
    if app is None:
        app = App(slug=slug)
        if not fields.get("signing_secret"):
            generated = generate_signing_secret()
            app.signing_secret = generated
    for name, value in fields.items():
        setattr(app, name, value)
    _validated(app)
    app.save()
    if not created:
        refresh_link_cache(app_id=app.id)
    return app, created, generated


def _is_whsec(value: object) -> bool:
    if not isinstance(value, str) or not value.startswith("whsec_"):
        return False
    try:
        return len(base64.b64decode(value[6:], validate=True)) >= 24
    except ValueError:
        return False


CAMPAIGN_FIELDS = (
    "name",
    "description",
    "landing_url",
    "commission_bps",
    "recurring",
    "recurring_months",
    "cookie_days",
    "customer_discount_bps",
    "hold_days",
    "starts_at",
    "ends_at",
    "status",
    "visibility",
)


def check_campaign_terms(
    *, commission_bps: int, recurring: bool, customer_discount_bps: int | None = None
) -> None:
    """The rate rules, with the messages people read (the database enforces them too)."""
    if not isinstance(commission_bps, int) or not 0 <= commission_bps <= MAX_BPS:
        raise ProgramError("invalid", "must be between 0% and 100%", "commission_bps")
    if recurring and commission_bps < RECURRING_FLOOR_BPS:
        raise ProgramError("below_floor", "recurring campaigns pay at least 30%", "commission_bps")
    if customer_discount_bps is not None and not 0 <= customer_discount_bps <= MAX_BPS:
        raise ProgramError("invalid", "must be between 0% and 100%", "customer_discount_bps")


@transaction.atomic
def upsert_campaign(*, slug: str, app_slug: str, fields: dict[str, Any]) -> tuple[Campaign, bool]:
    """Create the campaign `slug` for app `app_slug`, or update the given fields."""
    unknown = set(fields) - set(CAMPAIGN_FIELDS)
    if unknown:
        raise ProgramError("invalid", "unknown field", sorted(unknown)[0])
    _check_text({"slug": slug, **fields})
    app = App.objects.filter(slug=app_slug).first() if isinstance(app_slug, str) else None
    if app is None:
        raise ProgramError("unknown_app", f"no app with slug {app_slug!r}", "app")
    campaign = Campaign.objects.select_for_update().filter(slug=slug).first()
    created = campaign is None
    if campaign is None:
        if "commission_bps" not in fields:
            raise ProgramError("invalid", "is required", "commission_bps")
        campaign = Campaign(slug=slug, app=app)
    elif campaign.app_id != app.id:
        raise ProgramError(
            "invalid", f"campaign {slug!r} belongs to another app and cannot move", "app"
        )
    for name, value in fields.items():
        setattr(campaign, name, value)
    check_campaign_terms(
        commission_bps=campaign.commission_bps,
        recurring=campaign.recurring,
        customer_discount_bps=campaign.customer_discount_bps,
    )
    if campaign.starts_at and campaign.ends_at and campaign.ends_at <= campaign.starts_at:
        raise ProgramError("invalid", "must be after starts_at", "ends_at")
    _validated(campaign)
    campaign.save()
    if not created:
        refresh_link_cache(campaign_id=campaign.id)
    return campaign, created


def list_campaigns(*, app_id: UUID | None = None, joinable_only: bool = False) -> list[Campaign]:
    qs = Campaign.objects.select_related("app")
    if app_id is not None:
        qs = qs.filter(app_id=app_id)
    if joinable_only:
        qs = qs.filter(status=Campaign.Status.ACTIVE, app__is_active=True)
    return list(qs)


# --- writes: enrollments -----------------------------------------------------------------------


def _eligible_affiliate(affiliate_id: UUID) -> Any:
    """The user, when verified, approved and not banned, blocked or deleted."""
    user = get_user_model().objects.filter(id=affiliate_id).first()
    if user is None or getattr(user, "deleted_at", None) is not None:
        raise ProgramError("unknown_affiliate", "no such affiliate", "affiliate")
    if getattr(user, "banned", False) or getattr(user, "blocked", False):
        raise ProgramError("not_allowed", "this account may not join campaigns", "affiliate")
    if not getattr(user, "email_verified", False):
        raise ProgramError(
            "not_verified", "verify your email address before joining campaigns", "affiliate"
        )
    if not getattr(user, "approved_affiliate", False):
        raise ProgramError(
            "not_approved", "your affiliate application is waiting for approval", "affiliate"
        )
    return user


def _rejoin(e: Enrollment, campaign: Campaign) -> Enrollment:
    if e.status == Enrollment.Status.REJECTED:
        raise ProgramError(
            "rejected", "your request to join this campaign was declined", "campaign"
        )
    if e.status == Enrollment.Status.LEFT:
        now = timezone.now()
        open_ = campaign.visibility == Campaign.Visibility.OPEN
        e.status = Enrollment.Status.ACTIVE if open_ else Enrollment.Status.PENDING
        e.joined_at, e.left_at = now, None
        e.approved_at = now if open_ else None
        e.save(update_fields=["status", "joined_at", "left_at", "approved_at", "updated_at"])
        refresh_link_cache(enrollment_id=e.id)
    return e


def join_campaign(*, affiliate_id: UUID, campaign_slug: str) -> EnrollmentRef:
    """Join a campaign: open ones at once, approval ones pending until staff approve.

    Idempotent (joining twice returns the same enrollment; rejoining after leaving reactivates
    it with the same coupon code and link). The coupon code is FIRSTNAME+RATE-APPSLUG with a
    numeric suffix on collision; the unique constraint decides under concurrent joins."""
    user = _eligible_affiliate(affiliate_id)
    if not isinstance(campaign_slug, str) or "\x00" in campaign_slug:
        raise ProgramError("unknown_campaign", "no such campaign", "campaign")
    campaign = Campaign.objects.select_related("app").filter(slug=campaign_slug).first()
    if campaign is None:
        raise ProgramError("unknown_campaign", "no such campaign", "campaign")
    now = timezone.now()
    if (
        campaign.status != Campaign.Status.ACTIVE
        or not campaign.app.is_active
        or (campaign.ends_at is not None and campaign.ends_at <= now)
    ):
        raise ProgramError("campaign_closed", "this campaign is not open for joining", "campaign")

    with transaction.atomic():
        existing = Enrollment.objects.filter(affiliate_id=user.id, campaign=campaign).first()
        if existing is not None:
            e = _rejoin(existing, campaign)
            return get_enrollment(enrollment_id=e.id)  # type: ignore[return-value]

    open_ = campaign.visibility == Campaign.Visibility.OPEN
    base = coupon_base(
        first_name=user.first_name,
        email=user.email,
        rate_bps=campaign.commission_bps,
        app_slug=campaign.app.slug,
    )
    taken: set[str] = set()
    for _attempt in range(100):
        if not taken:
            taken = set(
                Enrollment.objects.filter(coupon_code__startswith=base).values_list(
                    "coupon_code", flat=True
                )
            )
        code = base
        n = 1
        while code in taken:
            n += 1
            code = f"{base}-{n}"
        try:
            with transaction.atomic():
                e = Enrollment.objects.create(
                    affiliate_id=user.id,
                    campaign=campaign,
                    status=Enrollment.Status.ACTIVE if open_ else Enrollment.Status.PENDING,
                    coupon_code=code,
                    token=_new_token(),
                    joined_at=now,
                    approved_at=now if open_ else None,
                )
                webhooks_out_api.emit(
                    app_id=campaign.app_id,
                    type="coupon.created",
                    data={
                        "coupon": code,
                        "app": campaign.app.slug,
                        "campaign": campaign.slug,
                        "enrollment_id": str(e.id),
                        "affiliate_id": str(user.id),
                        "customer_discount_bps": campaign.customer_discount_bps,
                        "status": e.status,
                    },
                )
        except IntegrityError:
            mine = Enrollment.objects.filter(affiliate_id=user.id, campaign=campaign).first()
            if mine is not None:  # a concurrent join of the same pair won
                return get_enrollment(enrollment_id=_rejoin(mine, campaign).id)  # type: ignore[return-value]
            taken.add(code)
            continue
        return get_enrollment(enrollment_id=e.id)  # type: ignore[return-value]
    raise ProgramError("coupon_unavailable", "could not allocate a coupon code", "coupon_code")


def leave_campaign(*, affiliate_id: UUID, campaign_slug: str) -> EnrollmentRef:
    """Stop new attribution for this enrollment; existing referrals keep their terms."""
    if not isinstance(campaign_slug, str) or "\x00" in campaign_slug:
        raise ProgramError("not_enrolled", "you are not in this campaign", "campaign")
    with transaction.atomic():
        e = (
            Enrollment.objects.select_for_update()
            .filter(affiliate_id=affiliate_id, campaign__slug=campaign_slug)
            .first()
        )
        if e is None:
            raise ProgramError("not_enrolled", "you are not in this campaign", "campaign")
        if e.status != Enrollment.Status.LEFT:
            e.status, e.left_at = Enrollment.Status.LEFT, timezone.now()
            e.save(update_fields=["status", "left_at", "updated_at"])
            refresh_link_cache(enrollment_id=e.id)
    return get_enrollment(enrollment_id=e.id)  # type: ignore[return-value]


def _set_status(enrollment_id: UUID, *, to: str, allowed_from: set[str]) -> EnrollmentRef:
    with transaction.atomic():
        e = Enrollment.objects.select_for_update().filter(id=enrollment_id).first()
        if e is None:
            raise ProgramError("unknown_enrollment", "no such enrollment", "enrollment")
        if e.status != to:
            if e.status not in allowed_from:
                raise ProgramError(
                    "invalid_state", f"a {e.status} enrollment cannot become {to}", "status"
                )
            e.status = to
            if to == Enrollment.Status.ACTIVE:
                e.approved_at = timezone.now()
            e.save(update_fields=["status", "approved_at", "updated_at"])
            refresh_link_cache(enrollment_id=e.id)
    return get_enrollment(enrollment_id=e.id)  # type: ignore[return-value]


def approve_enrollment(*, enrollment_id: UUID) -> EnrollmentRef:
    """Staff: a pending (or rejected) enrollment becomes active."""
    return _set_status(
        enrollment_id,
        to=Enrollment.Status.ACTIVE,
        allowed_from={Enrollment.Status.PENDING, Enrollment.Status.REJECTED},
    )


def reject_enrollment(*, enrollment_id: UUID) -> EnrollmentRef:
    """Staff: a pending (or active) enrollment is declined; it attributes nothing new."""
    return _set_status(
        enrollment_id,
        to=Enrollment.Status.REJECTED,
        allowed_from={Enrollment.Status.PENDING, Enrollment.Status.ACTIVE},
    )


def set_enrollment_rate(*, enrollment_id: UUID, commission_bps: int | None) -> EnrollmentRef:
    """Staff: give one enrollment its own rate (None = the campaign's). Never below 30%.

    Only referrals attributed afterwards get it: existing referrals keep their frozen terms."""
    if commission_bps is not None and (
        not isinstance(commission_bps, int)
        or isinstance(commission_bps, bool)
        or not RECURRING_FLOOR_BPS <= commission_bps <= MAX_BPS
    ):
        raise ProgramError(
            "below_floor", "an enrollment rate must be between 30% and 100%", "commission_bps"
        )
    with transaction.atomic():
        updated = Enrollment.objects.filter(id=enrollment_id).update(
            commission_bps_override=commission_bps, updated_at=timezone.now()
        )
        if not updated:
            raise ProgramError("unknown_enrollment", "no such enrollment", "enrollment")
    return get_enrollment(enrollment_id=enrollment_id)  # type: ignore[return-value]


# --- affiliate portal: catalog, enrollment pages, briefs, marketing material ---------------------


BANNER_CACHE_SECONDS = 24 * 3600


def percent_label(*, bps: int) -> str:
    """Basis points as people read them: 3000 -> "30%", 1250 -> "12.5%"."""
    whole, rest = divmod(int(bps), 100)
    return f"{whole}%" if not rest else f"{whole}.{rest:02d}".rstrip("0") + "%"


def tracking_link(*, token: str) -> str:
    """The public tracking link of an enrollment: KANGROW_BASE_URL + /r/<token>."""
    from django.conf import settings

    return settings.KANGROW_BASE_URL.rstrip("/") + f"/r/{token}"


def list_catalog(
    *, app_slug: str | None = None, campaign_slug: str | None = None
) -> list[Campaign]:
    """Campaigns an approved affiliate can see: active, of an active app, started, not ended
    (one query, apps joined)."""
    now = timezone.now()
    qs = (
        Campaign.objects.select_related("app")
        .filter(status=Campaign.Status.ACTIVE, app__is_active=True)
        .exclude(ends_at__lte=now)
        .exclude(starts_at__gt=now)
        .order_by("app__name", "name")
    )
    if app_slug:
        qs = qs.filter(app__slug=app_slug)
    if campaign_slug:
        qs = qs.filter(slug=campaign_slug)
    return list(qs)


def list_active_apps() -> list[App]:
    """Active apps with their onboarding briefs, by name."""
    return list(App.objects.filter(is_active=True).order_by("name"))


def get_app_brief(*, slug: str) -> App | None:
    """An active app with its brief (goals, ideal customer, value proposition, pricing…)."""
    if not isinstance(slug, str) or "\x00" in slug or len(slug) > 60:
        return None
    return App.objects.filter(slug=slug, is_active=True).first()


def get_affiliate_enrollment(*, affiliate_id: UUID, campaign_slug: str) -> Enrollment | None:
    """This affiliate's enrollment in the campaign (any status), with campaign and app; None
    when the affiliate never joined it: nobody reaches another affiliate's enrollment."""
    if not isinstance(campaign_slug, str) or "\x00" in campaign_slug or len(campaign_slug) > 60:
        return None
    return (
        Enrollment.objects.select_related("campaign__app")
        .filter(affiliate_id=affiliate_id, campaign__slug=campaign_slug)
        .first()
    )


def list_campaign_assets(*, campaign_id: UUID) -> list[Any]:
    """The campaign's visible marketing files (CampaignAsset rows), in display order."""
    from .marketing_models import CampaignAsset

    return list(CampaignAsset.objects.filter(campaign_id=campaign_id, is_active=True))


def get_campaign_asset(*, campaign_id: UUID, asset_id: UUID) -> Any:
    """One visible marketing file of the campaign, or None."""
    from .marketing_models import CampaignAsset

    return CampaignAsset.objects.filter(
        campaign_id=campaign_id, id=asset_id, is_active=True
    ).first()


def _banner_template(enrollment: Enrollment, size: str) -> Any:
    from django.db.models import F, Q

    from .marketing_models import BannerTemplate

    campaign = enrollment.campaign
    return (
        BannerTemplate.objects.filter(app_id=campaign.app_id, size=size, is_active=True)
        .filter(Q(campaign_id=campaign.id) | Q(campaign__isnull=True))
        .order_by(F("campaign_id").asc(nulls_last=True), "-updated_at")
        .first()
    )


def render_banner(*, affiliate_id: UUID, campaign_slug: str, size: str) -> bytes | None:
    """The PNG banner of this affiliate's active enrollment in the campaign, for one of the
    standard sizes; None when there is no such enrollment or size. Cached per (enrollment,
    size, template version): a template, app or campaign edit makes a new key."""
    from . import banners
    from .marketing_models import BANNER_SIZES

    if size not in BANNER_SIZES:
        return None
    e = get_affiliate_enrollment(affiliate_id=affiliate_id, campaign_slug=campaign_slug)
    if e is None or e.status != Enrollment.Status.ACTIVE:
        return None
    campaign, app = e.campaign, e.campaign.app
    template = _banner_template(e, size)
    branding = None
    if template is None:
        from .marketing_models import AppBranding

        branding = AppBranding.objects.filter(app_id=app.id).first()
    link = tracking_link(token=e.token)
    version = "|".join(
        str(part)
        for part in (
            e.id,
            size,
            template.id if template else "brand",
            template.updated_at.timestamp() if template else "",
            branding.updated_at.timestamp() if branding else "",
            app.updated_at.timestamp(),
            campaign.updated_at.timestamp(),
            e.coupon_code,
            link,
        )
    )
    key = "kangrow:banner:" + hashlib.sha256(version.encode()).hexdigest()[:40]
    cached = cache.get(key)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    discount = campaign.customer_discount_bps
    if discount:
        headline = f"{app.name}: save {percent_label(bps=discount)} with code"
    else:
        headline = f"Try {app.name} with code"
    png = banners.render(
        size=size,
        text=banners.BannerText(
            app_name=app.name,
            headline=headline,
            coupon_code=e.coupon_code,
            link=link,
            brand_color=app.brand_color,
        ),
        template=template,
        brand_logo=branding.logo if branding else None,
    )
    cache.set(key, png, BANNER_CACHE_SECONDS)
    return png
