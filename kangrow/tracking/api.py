"""The tracking context's public API: tracking-link clicks and referral attribution.

`record_click` is the hot path of /r/<token>: a link lookup from memory, then the click goes
to this process's queue for the Redis click buffer (REDIS_URL set; a sender thread adds the
queue as one stream entry, KANGROW_CLICK_BATCH_MS), one XADD (batching off, or the queue full)
or one INSERT (embedded default, or Redis failing).
`drain_click_buffer` moves buffered clicks into the table (beat: `tracking.drain_clicks`).
`attribute_customer` decides, once and for life, which enrollment a customer belongs to.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit, urlunsplit
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone
from uuid_utils.compat import uuid7

from kangrow.programs import api as programs
from kangrow.programs.api import EnrollmentRef, Terms
from kangrow.webhooks_out import api as webhooks_out_api

from . import buffer
from .models import Click, Referral

UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
# A click row, in this order everywhere: the request builds it, the buffer carries it as text,
# the inserts write it.
CLICK_COLUMNS = (
    "id",
    "enrollment_id",
    "campaign_id",
    "app_id",
    "clicked_at",
    "ip_hash",
    "user_agent",
    "referrer",
    "landing_url",
    *UTM_KEYS,
)
_COLS_SQL = ", ".join(CLICK_COLUMNS)
_PARAMS_SQL = ", ".join(["%s"] * len(CLICK_COLUMNS))
# One statement string, one round trip: the click's own implicit transaction does not wait for
# the WAL flush (clicks are analytics; a database crash may lose the last ~0.6 s of them).
_INSERT_ONE_SQL = (
    f"SET LOCAL synchronous_commit TO OFF; INSERT INTO clicks ({_COLS_SQL}) VALUES ({_PARAMS_SQL})"  # noqa: E501, S608 - constants
)
_COPY_SQL = f"COPY clicks ({_COLS_SQL}) FROM STDIN"  # noqa: S608 - constants
_DRAIN_INSERT_SQL = f"INSERT INTO clicks ({_COLS_SQL}) SELECT {_COLS_SQL} FROM clicks_drain ON CONFLICT (id) DO NOTHING"  # noqa: E501, S608 - constants
_DRAIN_TABLE_SQL = (
    # made anew by every drain (dropped at commit): a pooled session's copy would outlive a
    # migration that changes `clicks`
    "CREATE TEMPORARY TABLE IF NOT EXISTS clicks_drain "
    "(LIKE clicks INCLUDING DEFAULTS) ON COMMIT DROP"
)
GMAIL_DOMAINS = {"gmail.com", "googlemail.com"}
log = logging.getLogger(__name__)


class TrackingError(ValueError):
    """Input the tracking context refuses, with a stable code and the offending field."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


@dataclass(frozen=True)
class ReferralRef:
    id: UUID
    app_id: UUID
    customer_id: str
    customer_email_masked: str
    enrollment_id: UUID
    affiliate_id: UUID
    campaign_id: UUID
    attributed_by: str  # "coupon" or "ref"
    terms: Terms  # frozen at the first conversion; never changes afterwards
    status: str  # "active", "cancelled"
    self_referral: bool  # flagged: earns nothing
    referred_at: datetime
    cancelled_at: datetime | None


# --- helpers -----------------------------------------------------------------------------------


def normalize_email(email: str | None) -> str:
    """Case-folded, without +tags, and without dots in the local part of Gmail addresses."""
    if not email or "@" not in email:
        return (email or "").strip().lower()
    local, _, domain = email.strip().lower().rpartition("@")
    local = local.split("+", 1)[0]
    if domain in GMAIL_DOMAINS:
        local = local.replace(".", "")
        domain = "gmail.com"
    return f"{local}@{domain}"


def mask_email(email: str | None) -> str:
    """'jane.doe@example.com' -> 'ja***@example.com'; never the whole local part."""
    if not email:
        return ""
    if "@" not in email:
        return email[:2] + "***"
    local, _, domain = email.rpartition("@")
    return f"{local[:2] if len(local) > 2 else local[:1]}***@{domain}"


@functools.lru_cache(maxsize=8)
def _ip_hmac(configured: str, secret_key: str) -> hmac.HMAC:
    derived = hmac.new(secret_key.encode(), b"kangrow.tracking.ip-hash", hashlib.sha256)
    return hmac.new((configured or derived.hexdigest()).encode(), digestmod=hashlib.sha256)


def hash_ip(ip: str) -> str:
    """HMAC-SHA256 of an IP with a secret salt (KANGROW_IP_HASH_SALT, else derived from
    SECRET_KEY), so clicks can be grouped by visitor without storing the address. The keyed
    HMAC is made once per process (per settings) and copied per click: hmac.digest looks the
    digest up in OpenSSL on every call (17 µs per redirect under load, bench.profile_tracking;
    a copy is under 1 µs)."""
    if not ip:
        return ""
    keyed = _ip_hmac(getattr(settings, "KANGROW_IP_HASH_SALT", ""), settings.SECRET_KEY).copy()
    keyed.update(ip.encode())
    return keyed.hexdigest()


def _clean(value: str | None, limit: int) -> str:
    if not value:
        return ""
    return value.replace("\x00", "")[:limit]


def _ref(r: Referral) -> ReferralRef:
    return ReferralRef(
        id=r.id,
        app_id=r.app_id,
        customer_id=r.customer_id,
        customer_email_masked=mask_email(r.customer_email),
        enrollment_id=r.enrollment_id,
        affiliate_id=r.affiliate_id,
        campaign_id=r.campaign_id,
        attributed_by=r.attributed_by,
        terms=Terms(
            commission_bps=r.commission_bps,
            recurring=r.recurring,
            recurring_months=r.recurring_months,
            hold_days=r.hold_days,
            cookie_days=r.cookie_days,
        ),
        status=r.status,
        self_referral=r.self_referral,
        referred_at=r.referred_at,
        cancelled_at=r.cancelled_at,
    )


@functools.lru_cache(maxsize=4096)
def _split_landing(url: str) -> tuple[str, str, frozenset[str]]:
    """A landing URL taken apart once per process: the URL without query or fragment, its
    query re-encoded without `ref`, and the parameter names it already has."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "ref"]
    base = urlunsplit((parts.scheme, parts.netloc, parts.path or "/", "", ""))
    return base, urlencode(query), frozenset(k for k, _ in query)


def with_ref(url: str, token: str, extra: dict[str, str] | None = None) -> str:
    """`url` with ref=<token> in its query string, keeping its other parameters; `extra`
    parameters (UTM) are added when non-empty and not already in the URL."""
    base, query, present = _split_landing(url)
    added = [
        f"{quote_plus(key)}={quote_plus(value)}"
        for key, value in (extra or {}).items()
        if value and key not in present
    ]
    added.append(f"ref={quote_plus(token)}")
    tail = "&".join(added)
    return f"{base}?{query}&{tail}" if query else f"{base}?{tail}"


# --- clicks ------------------------------------------------------------------------------------


def record_click(
    *,
    token: str,
    ip: str = "",
    user_agent: str = "",
    referrer: str = "",
    utm: dict[str, str] | None = None,
    clicked_at: datetime | None = None,
) -> str:
    """Record a click of a live tracking link and return where to send the visitor.

    With the click buffer on (REDIS_URL set) the click goes to Redis, through this process's
    queue when batching (within KANGROW_CLICK_BATCH_MS), and reaches the `clicks` table with
    the next drain (about a second); when Redis fails, and without Redis, it is inserted here
    (or by the queue's sender). Either way its id is made now, so it is never written twice; a
    web process killed (not stopped) loses the clicks still in its queue (about 20 ms of them).

    Unknown, inactive or left links record nothing and send the visitor to the app's site when
    known, else to KanGrow's home page."""
    target = programs.resolve_link(token=token)
    if target is None:
        return settings.KANGROW_BASE_URL.rstrip("/") + "/"
    if not target.live or not target.landing_url:
        return target.site_url or settings.KANGROW_BASE_URL.rstrip("/") + "/"
    utm = utm or {}
    utm_values = [_clean(utm.get(k), 200) for k in UTM_KEYS]
    landing = with_ref(target.landing_url, token, dict(zip(UTM_KEYS, utm_values, strict=True)))
    row = (
        uuid7(),
        target.enrollment_id,
        target.campaign_id,
        target.app_id,
        clicked_at or timezone.now(),
        hash_ip(_clean(ip, 100)),
        _clean(user_agent, 512),
        _clean(referrer, 1000),
        landing[:2000],
        *utm_values,
    )
    if not (buffer.enabled() and (buffer.queue(row, _write_queued) or buffer.append(row))):
        _insert_click(row)
    return landing


def _insert_click(row: tuple) -> None:
    """One click, now. On PostgreSQL outside a transaction: one statement without the commit's
    WAL-flush wait; inside a caller's transaction (or elsewhere) a plain ORM insert, so the
    relaxed commit never spreads to someone else's writes."""
    plain = connection.vendor != "postgresql" or connection.in_atomic_block
    if plain or connection.settings_dict.get("OPTIONS", {}).get("server_side_binding"):
        Click.objects.create(**dict(zip(CLICK_COLUMNS, row, strict=True)))
        return
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_ONE_SQL, row)


def _write_clicks(rows: list[list[str]]) -> None:
    """Buffered clicks (values as text, CLICK_COLUMNS order) into the table, ignoring ids it
    already has. PostgreSQL: COPY straight into the table (in a savepoint); only when some ids
    are there already (a drain repeated after a crash, a batch its sender also wrote while Redis
    failed), COPY into a temporary table and one INSERT … ON CONFLICT DO NOTHING. Elsewhere
    bulk_create with ignore_conflicts."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                try:  # the common case costs PostgreSQL a third less than the path below
                    with (
                        transaction.atomic(),
                        connection.wrap_database_errors,
                        cursor.copy(_COPY_SQL) as copy,
                    ):
                        for row in rows:
                            copy.write_row(row)
                    return
                except IntegrityError as exc:
                    if getattr(exc.__cause__, "sqlstate", None) != "23505":  # not a unique id
                        raise
                    log.info("clicks already written among %d; skipping them by id", len(rows))
                cursor.execute(_DRAIN_TABLE_SQL)
                with cursor.copy(f"COPY clicks_drain ({_COLS_SQL}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                cursor.execute(_DRAIN_INSERT_SQL)
                cursor.execute("TRUNCATE clicks_drain")  # a caller's transaction may go on
            return
        objs = []
        for row in rows:
            fields = dict(zip(CLICK_COLUMNS, row, strict=True))
            fields["clicked_at"] = datetime.fromisoformat(fields["clicked_at"])
            objs.append(Click(**fields))
        Click.objects.bulk_create(objs, batch_size=500, ignore_conflicts=True)


def _write_queued(rows: list[list[str]]) -> None:
    """The sender thread's fallback when Redis fails: the same insert as the drain's (looked
    up at each call)."""
    _write_clicks(rows)


def drain_click_buffer(
    *, batch_size: int = 5000, max_seconds: float = 20.0, wait: float = 0.0
) -> int:
    """Move buffered clicks into the `clicks` table, oldest first, in committed batches; each
    batch leaves Redis only after it is committed, and a click already in the table is skipped,
    so a repeated or interrupted drain never loses or duplicates one. One drain runs at a time:
    `wait` seconds for a running one, else return 0 at once. This process's queued clicks are
    sent first (a demo, a test, the profile; a worker has none), and the entries set aside
    since the last drain that this release reads are written too. Returns the clicks moved plus
    the unreadable entries set aside (0 when the buffer is off)."""
    if not buffer.enabled():
        return 0
    buffer.flush()
    return buffer.drain(_write_clicks, batch_size=batch_size, max_seconds=max_seconds, wait=wait)


def replay_dead_clicks() -> tuple[int, int] | None:
    """Clicks set aside as unreadable (kangrow:clicks:dead) that this release reads, into the
    table, each once: e.g. the entries a previous release's drain could not read during a
    rolling deploy (each drain also replays the entries set aside since the one before).
    Returns (clicks written, entries left), None when the buffer is off."""
    if not buffer.enabled():
        return None
    return buffer.replay_dead(_write_clicks)


def pending_clicks() -> int:
    """Clicks recorded but not yet in the table: in Redis or queued in this process (0 when
    the buffer is off)."""
    return buffer.pending() if buffer.enabled() else 0


def count_clicks(
    *, enrollment_ids: list[UUID], since: datetime | None = None, until: datetime | None = None
) -> int:
    qs = Click.objects.filter(enrollment_id__in=enrollment_ids)
    if since is not None:
        qs = qs.filter(clicked_at__gte=since)
    if until is not None:
        qs = qs.filter(clicked_at__lt=until)
    return qs.count()


# --- referrals ---------------------------------------------------------------------------------


def _attributing_enrollment(
    *, app_id: UUID, coupon: str | None, ref: str | None, occurred_at: datetime
) -> tuple[EnrollmentRef, str] | None:
    if coupon:
        e = programs.get_enrollment_by_coupon(code=coupon)
        if e is not None and e.app_id == app_id and e.is_live(occurred_at):
            return e, Referral.AttributedBy.COUPON
    if ref:
        e = programs.get_enrollment_by_token(token=ref)
        if e is not None and e.app_id == app_id and e.is_live(occurred_at):
            window_start = occurred_at - timedelta(days=e.terms.cookie_days)
            clicks = Click.objects.filter(
                enrollment_id=e.id, clicked_at__gte=window_start, clicked_at__lte=occurred_at
            )
            clicked = clicks.exists()
            if not clicked and buffer.enabled():
                # the click may still be in the buffer (a signup seconds after the click): read
                # it there, never drain from here (that would write clicks in the caller's
                # transaction and wait on the scheduled drain)
                clicked = buffer.has_click(
                    enrollment_id=str(e.id), since=window_start, until=occurred_at
                )
            if clicked:
                return e, Referral.AttributedBy.REF
    return None


def attribute_customer(
    *,
    app_id: UUID,
    customer_id: str,
    email: str | None = None,
    coupon: str | None = None,
    ref: str | None = None,
    occurred_at: datetime,
) -> ReferralRef | None:
    """Attribute a customer of an app to an enrollment, once and for life.

    Idempotent: the first attribution of (app_id, customer_id) sticks and is returned unchanged
    afterwards. Coupon first (a live enrollment of this app), else the ref token with a click of
    that enrollment within the cookie window before `occurred_at`. None when nothing attributes.
    Self-referral (normalised email equal to the affiliate's) is kept, flagged, and earns
    nothing. Raises TrackingError on unusable input."""
    if not isinstance(customer_id, str) or not customer_id.strip() or len(customer_id) > 255:
        raise TrackingError("invalid", "customer_id must be 1 to 255 characters", "customer_id")
    for name, value in (
        ("customer_id", customer_id),
        ("email", email),
        ("coupon", coupon),
        ("ref", ref),
    ):
        if value is not None and (not isinstance(value, str) or "\x00" in value):
            raise TrackingError("invalid", "contains a NUL character or is not text", name)
    if email is not None and len(email) > 320:
        raise TrackingError("invalid", "is too long", "email")
    existing = Referral.objects.filter(app_id=app_id, customer_id=customer_id).first()
    if existing is not None:
        return _ref(existing)
    found = _attributing_enrollment(app_id=app_id, coupon=coupon, ref=ref, occurred_at=occurred_at)
    if found is None:
        return None
    enrollment, by = found
    self_referral = bool(email) and normalize_email(email) == normalize_email(
        enrollment.affiliate_email
    )
    terms = enrollment.terms
    try:
        with transaction.atomic():
            row = Referral.objects.create(
                app_id=app_id,
                customer_id=customer_id,
                customer_email=email or "",
                enrollment_id=enrollment.id,
                affiliate_id=enrollment.affiliate_id,
                campaign_id=enrollment.campaign_id,
                attributed_by=by,
                commission_bps=terms.commission_bps,
                recurring=terms.recurring,
                recurring_months=terms.recurring_months,
                hold_days=terms.hold_days,
                cookie_days=terms.cookie_days,
                self_referral=self_referral,
                referred_at=occurred_at,
            )
            webhooks_out_api.emit(
                app_id=app_id,
                type="referral.created",
                data={
                    "referral_id": str(row.id),
                    "customer_id": customer_id,
                    "affiliate_id": str(row.affiliate_id),
                    "campaign_id": str(row.campaign_id),
                    "attributed_by": by,
                    "coupon": enrollment.coupon_code,
                    "commission_bps": terms.commission_bps,
                    "self_referral": self_referral,
                    "referred_at": occurred_at.isoformat(),
                },
            )
    except IntegrityError:  # a concurrent first attribution won: it sticks
        row = Referral.objects.get(app_id=app_id, customer_id=customer_id)
    return _ref(row)


def get_referral(*, app_id: UUID, customer_id: str) -> ReferralRef | None:
    if not isinstance(customer_id, str) or "\x00" in customer_id:
        return None
    row = Referral.objects.filter(app_id=app_id, customer_id=customer_id).first()
    return _ref(row) if row else None


def get_referrals(*, keys: list[tuple[UUID, str]]) -> dict[tuple[UUID, str], ReferralRef]:
    """The referrals of many (app_id, customer_id) pairs in one query, keyed by the pair;
    pairs without a referral are absent (for batch processing of money events)."""
    keys = [(a, c) for a, c in keys if isinstance(c, str) and "\x00" not in c]
    if not keys:
        return {}
    rows = Referral.objects.filter(
        app_id__in={a for a, _ in keys}, customer_id__in={c for _, c in keys}
    )
    wanted = set(keys)
    return {(r.app_id, r.customer_id): _ref(r) for r in rows if (r.app_id, r.customer_id) in wanted}


def get_referral_by_id(*, referral_id: UUID) -> ReferralRef | None:
    row = Referral.objects.filter(id=referral_id).first()
    return _ref(row) if row else None


def list_referrals(*, affiliate_id: UUID) -> list[ReferralRef]:
    return [_ref(r) for r in Referral.objects.filter(affiliate_id=affiliate_id)]


def cancel_referral(*, referral_id: UUID, cancelled_at: datetime) -> tuple[ReferralRef, bool]:
    """Mark a referral cancelled. Idempotent; the bool says whether this call cancelled it, so
    the caller notifies exactly once (a conditional UPDATE decides between concurrent calls)."""
    changed = Referral.objects.filter(id=referral_id, status=Referral.Status.ACTIVE).update(
        status=Referral.Status.CANCELLED, cancelled_at=cancelled_at, updated_at=timezone.now()
    )
    row = Referral.objects.filter(id=referral_id).first()
    if row is None:
        raise TrackingError("unknown_referral", "no such referral", "referral_id")
    if changed:
        webhooks_out_api.emit(
            app_id=row.app_id,
            type="referral.cancelled",
            data={
                "referral_id": str(row.id),
                "customer_id": row.customer_id,
                "affiliate_id": str(row.affiliate_id),
                "campaign_id": str(row.campaign_id),
                "cancelled_at": cancelled_at.isoformat(),
            },
        )
    return _ref(row), bool(changed)


# --- aggregate reads (the reports context) -----------------------------------------------------


@dataclass(frozen=True)
class DayCount:
    campaign_id: UUID
    day: date
    count: int


def count_clicks_by_day(
    *, enrollment_ids: list[UUID], since: datetime, until: datetime
) -> list[DayCount]:
    """Clicks of these enrollments in [since, until), per campaign and UTC day: one GROUP BY."""
    if not enrollment_ids:
        return []
    rows = (
        Click.objects.filter(
            enrollment_id__in=enrollment_ids, clicked_at__gte=since, clicked_at__lt=until
        )
        .annotate(day=TruncDate("clicked_at", tzinfo=UTC))
        .values("campaign_id", "day")
        .annotate(n=Count("id"))
        .order_by("day", "campaign_id")
    )
    return [DayCount(campaign_id=r["campaign_id"], day=r["day"], count=r["n"]) for r in rows]


def count_referrals_by_day(
    *,
    affiliate_id: UUID,
    since: datetime,
    until: datetime,
    campaign_id: UUID | None = None,
    cancelled: bool = False,
) -> list[DayCount]:
    """The affiliate's referred customers per campaign and UTC day: signups by `referred_at`
    (self-referrals excluded: they earn nothing), or with `cancelled`, cancellations by
    `cancelled_at`. One GROUP BY query."""
    field = "cancelled_at" if cancelled else "referred_at"
    qs = Referral.objects.filter(
        affiliate_id=affiliate_id, self_referral=False, **{f"{field}__gte": since}
    ).filter(**{f"{field}__lt": until})
    if campaign_id is not None:
        qs = qs.filter(campaign_id=campaign_id)
    rows = (
        qs.annotate(day=TruncDate(field, tzinfo=UTC))
        .values("campaign_id", "day")
        .annotate(n=Count("id"))
        .order_by("day", "campaign_id")
    )
    return [DayCount(campaign_id=r["campaign_id"], day=r["day"], count=r["n"]) for r in rows]


def _affiliate_referrals(affiliate_id: UUID, campaign_id: UUID | None):  # type: ignore[no-untyped-def]
    qs = Referral.objects.filter(affiliate_id=affiliate_id)
    if campaign_id is not None:
        qs = qs.filter(campaign_id=campaign_id)
    return qs.order_by("-referred_at", "-id")


def page_referrals(
    *, affiliate_id: UUID, offset: int, limit: int, campaign_id: UUID | None = None
) -> tuple[list[ReferralRef], int]:
    """One page of the affiliate's referrals, newest first, and how many there are (2 queries)."""
    qs = _affiliate_referrals(affiliate_id, campaign_id)
    total = qs.count()
    offset, limit = max(offset, 0), max(limit, 0)
    return [_ref(r) for r in qs[offset : offset + limit]], total


def iter_referrals(*, affiliate_id: UUID, chunk_size: int = 500) -> Iterator[list[ReferralRef]]:
    """Every referral of the affiliate, newest first, in lists of up to `chunk_size` (one
    server-side cursor; for streaming exports)."""
    chunk: list[ReferralRef] = []
    for row in _affiliate_referrals(affiliate_id, None).iterator(chunk_size=chunk_size):
        chunk.append(_ref(row))
        if len(chunk) >= chunk_size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
