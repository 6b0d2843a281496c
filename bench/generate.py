"""Fill an empty PostgreSQL database with a realistic KanGrow program, fast (COPY).

    DATABASE_URL=postgres://... .venv/bin/python -m bench.generate --scale 0.01

At --scale 1: 20 apps, 100 campaigns, 10,000 affiliates, 30,000 enrollments, 10 million clicks
over two years, 1 million referrals and about 5 million commissions (with their invoice.paid
events, ledger rows, refunds, clawbacks and monthly payouts). Apps and campaigns are not scaled.

Every row satisfies the real models' constraints, because it is COPY'd into the tables the
migrations created: UUIDv7 ids carrying the row's own time, coupon codes unique (also
upper-cased), recurring rates never under 30 %, one commission per (app, invoice), one ledger
row per event, and ledger rows consistent with the commissions, so every balance is a sum:
  - each commission has one `commission` ledger row of +amount;
  - a refund inside the hold period adds a `refund_reversal` row (-amount), a later one a
    `clawback` row; each has its `invoice.refunded` payment event;
  - commissions paid out are `paid`, their rows claimed by that month's payout item; each item
    has its `payout` (-amount) and `payout_sent` (+amount) rows, and the payouts context has the
    matching completed runs, batches, paid items and confirmed PayPal accounts (historic monthly
    payouts ignore the $100 minimum).
Random but reproducible: the same --seed gives the same rows (ids and secrets aside).
"""

from __future__ import annotations

import argparse
import base64
import bisect
import json
import math
import os
import random
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

FULL = {
    "apps": 20,
    "campaigns": 100,
    "affiliates": 10_000,
    "enrollments": 30_000,
    "clicks": 10_000_000,
    "referrals": 1_000_000,
    "commissions": 5_000_000,
}
SCALED = ("affiliates", "enrollments", "clicks", "referrals", "commissions")
DAYS = 730
BENCH_PASSWORD = "bench-password-kangrow-2026"  # every generated affiliate's password
EMAIL_DOMAIN = "bench.kangrow.test"
PLANS = (900, 1900, 2900, 4900, 9900, 19900)  # monthly prices in cents, after discount
FIRST_NAMES = (
    "Jane", "Omar", "Li", "Ana", "Ravi", "Chloe", "Noah", "Sofia", "Kenji", "Amara",
    "Lucas", "Maya", "Ivan", "Zoe", "Mateo", "Aisha", "Finn", "Nora", "Yusuf", "Elena",
)  # fmt: skip
APP_WORDS = (
    "Invoice", "Desk", "Mail", "Form", "Track", "Sched", "Chart", "Note", "Sign", "Shop",
    "Team", "Vault", "Pulse", "Flow", "Cast", "Quiz", "Map", "Pay", "Hire", "Docs",
)  # fmt: skip
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/18.1 Safari/605",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537",
)
REFERRERS = ("", "", "https://www.youtube.com/", "https://x.com/", "https://news.ycombinator.com/")
UTM_SOURCES = ("", "", "", "newsletter", "youtube", "twitter", "blog")


def uuid7_at(ms: int, rng: random.Random) -> uuid.UUID:
    """A UUIDv7 whose timestamp is `ms` (milliseconds since the epoch): historical rows get ids
    that sort like their time, as if they had been written then."""
    return uuid.UUID(
        int=(ms << 80)
        | (0x7 << 76)
        | (rng.getrandbits(12) << 64)
        | (0b10 << 62)
        | rng.getrandbits(62)
    )


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


@lru_cache(maxsize=4096)
def _rate(amount: int, bps: int) -> int:
    from kangrow.core.money import apply_rate

    return apply_rate(amount, bps)


class Progress:
    """A plain progress bar on stderr (no dependency): label, bar, count, rate, ETA."""

    def __init__(self, label: str, total: int, *, enabled: bool = True) -> None:
        self.label, self.total, self.enabled = label, max(total, 1), enabled
        self.done = 0
        self.started = self._last = time.monotonic()

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and (now - self._last >= 0.5 or self.done >= self.total):
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        frac = min(self.done / self.total, 1.0)
        elapsed = now - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        bar = "#" * int(frac * 30)
        sys.stderr.write(
            f"\r{self.label:<14} [{bar:<30}] {self.done:>11,}/{self.total:,} "
            f"{rate:>9,.0f}/s eta {eta:5.0f}s"
        )
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(time.monotonic())
            sys.stderr.write("\n")


class Table:
    """COPY rows into one model's table: columns from the model, defaults filled in."""

    def __init__(self, model: Any) -> None:
        from django.db.models import NOT_PROVIDED

        self.model = model
        self.table = model._meta.db_table
        self.fields = list(model._meta.concrete_fields)
        self.columns = [f.column for f in self.fields]
        self.names = [f.attname for f in self.fields]
        self.defaults: dict[str, Any] = {}
        for f in self.fields:
            if f.default is not NOT_PROVIDED and not callable(f.default):
                self.defaults[f.attname] = f.default
            elif f.null:
                self.defaults[f.attname] = None

    def row(self, values: dict[str, Any]) -> tuple:
        try:
            return tuple(values[n] if n in values else self.defaults[n] for n in self.names)
        except KeyError as exc:
            raise ValueError(f"{self.table}: no value for required column {exc}") from exc

    def copy_sql(self) -> str:
        cols = ", ".join(f'"{c}"' for c in self.columns)
        return f'COPY "{self.table}" ({cols}) FROM STDIN'


@dataclass
class Counts:
    apps: int = 0
    campaigns: int = 0
    affiliates: int = 0
    enrollments: int = 0
    clicks: int = 0
    referrals: int = 0
    payment_events: int = 0
    commissions: int = 0
    ledger_entries: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, int]:
        out = {k: v for k, v in self.__dict__.items() if k != "extra"}
        out.update(self.extra)
        return out


@dataclass
class _Enr:
    id: uuid.UUID
    affiliate: int
    campaign: int
    token: str
    coupon: str
    status: str
    joined_at: datetime
    left_at: datetime | None


def targets(scale: float, overrides: dict[str, int] | None = None) -> dict[str, int]:
    out = dict(FULL)
    for key in SCALED:
        out[key] = max(1, round(FULL[key] * scale))
    out["enrollments"] = max(out["enrollments"], out["affiliates"])
    out["enrollments"] = min(out["enrollments"], out["affiliates"] * out["campaigns"])
    out.update(overrides or {})
    return out


def _connect_params() -> dict[str, Any]:
    from django.db import connection

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    params.pop("server_side_binding", None)
    return params


def generate(
    *,
    scale: float = 0.001,
    seed: int = 7,
    progress: bool = True,
    now: datetime | None = None,
    overrides: dict[str, int] | None = None,
    unpaid: bool = False,
    uniform: bool = False,
) -> dict[str, int]:
    """Fill the (empty) database Django is connected to; returns the row counts written.

    unpaid: no payout history (every matured commission is payable, for the payout benchmark);
    uniform: every affiliate equally popular (instead of a few bringing most of the traffic)."""
    import psycopg
    from django.contrib.auth.hashers import make_password
    from django.db import connection

    from kangrow.accounts.models import User
    from kangrow.ledger.models import Commission, LedgerClaim, LedgerEntry, PaymentEvent
    from kangrow.programs.models import App, Campaign, CompanyProfile, Enrollment
    from kangrow.tracking.models import Click, Referral

    if connection.vendor != "postgresql":
        raise RuntimeError("bench.generate needs PostgreSQL (it uses COPY).")
    with connection.cursor() as cur:
        cur.execute("SELECT EXISTS (SELECT 1 FROM apps)")
        if cur.fetchone()[0]:
            raise RuntimeError("The database already has apps: generate into an empty database.")

    want = targets(scale, overrides)
    rng = random.Random(seed)
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    start = now - timedelta(days=DAYS)
    counts = Counts()
    params = _connect_params()

    # --- programs and accounts: small tables, one connection, one transaction ---------------
    password = make_password(BENCH_PASSWORD)
    users, company, apps_t, camps_t, enr_t = (
        Table(User), Table(CompanyProfile), Table(App), Table(Campaign), Table(Enrollment)
    )  # fmt: skip
    app_rows: list[dict[str, Any]] = []
    camp_rows: list[dict[str, Any]] = []
    aff_ids: list[uuid.UUID] = []
    aff_names: list[str] = []
    enrollments: list[_Enr] = []
    with psycopg.connect(**params) as conn:
        with conn.cursor() as cur:
            with cur.copy(company.copy_sql()) as cp:
                t = start - timedelta(days=30)
                cp.write_row(company.row({
                    "id": uuid7_at(_ms(t), rng), "created_at": t, "updated_at": t,
                    "singleton": True, "name": "Bench Software Ltd",
                    "mission": "Make small businesses faster.", "goals": "Grow 20 SaaS apps.",
                }))  # fmt: skip
            with cur.copy(apps_t.copy_sql()) as cp:
                for i in range(want["apps"]):
                    t = start - timedelta(days=30) + timedelta(hours=i)
                    slug = f"app{i:02d}"
                    secret = "whsec_" + base64.b64encode(rng.randbytes(32)).decode()
                    row = {
                        "id": uuid7_at(_ms(t), rng), "created_at": t, "updated_at": t,
                        "name": f"{APP_WORDS[i % len(APP_WORDS)]}Pro {i}", "slug": slug,
                        "site_url": f"https://{slug}.example/",
                        "landing_url": f"https://{slug}.example/start",
                        "goals": "Help customers get paid faster.", "currency": "USD",
                        "signing_secret": secret, "is_active": True,
                    }  # fmt: skip
                    app_rows.append(row)
                    cp.write_row(apps_t.row(row))
            counts.apps = len(app_rows)
            with cur.copy(camps_t.copy_sql()) as cp:
                for j in range(want["campaigns"]):
                    app = app_rows[j % len(app_rows)]
                    kind = j // len(app_rows) % 5
                    recurring = kind != 4
                    t = start - timedelta(days=20) + timedelta(hours=j)
                    row = {
                        "id": uuid7_at(_ms(t), rng), "created_at": t, "updated_at": t,
                        "app_id": app["id"], "slug": f"{app['slug']}-c{j}",
                        "name": f"{app['name']} offer {j}",
                        "commission_bps": (3000, 3500, 4000, 5000, 2000)[kind],
                        "recurring": recurring,
                        "recurring_months": (None, 12, 24, 6, None)[kind],
                        "cookie_days": (60, 30, 90, 60, 30)[kind],
                        "customer_discount_bps": (2000, None, 1000, None, None)[kind],
                        "hold_days": 30, "status": "active", "visibility": "open",
                        "description": "", "landing_url": "",
                    }  # fmt: skip
                    camp_rows.append(row)
                    cp.write_row(camps_t.row(row))
            counts.campaigns = len(camp_rows)
            bar = Progress("affiliates", want["affiliates"], enabled=progress)
            with cur.copy(users.copy_sql()) as cp:
                for n in range(want["affiliates"]):
                    t = start - timedelta(days=15) + timedelta(seconds=rng.randrange(200 * 86400))
                    first = FIRST_NAMES[n % len(FIRST_NAMES)]
                    uid = uuid7_at(_ms(t), rng)
                    aff_ids.append(uid)
                    aff_names.append(first)
                    cp.write_row(users.row({
                        "id": uid, "created_at": t, "updated_at": t,
                        "email": f"affiliate{n:06d}@{EMAIL_DOMAIN}", "email_verified": True,
                        "verified": True, "approved_affiliate": True, "confirmed_at": t,
                        "first_name": first, "last_name": f"Bench{n}", "password": password,
                        "logins_count": rng.randrange(1, 300), "is_superuser": False,
                    }))  # fmt: skip
                    bar.advance()
            bar.close()
            counts.affiliates = len(aff_ids)
            # Enrollments: each affiliate in 1+ distinct campaigns; coupon NAME<n><pct>-<SLUG>.
            per = [want["enrollments"] // len(aff_ids)] * len(aff_ids)
            for n in rng.sample(range(len(aff_ids)), want["enrollments"] % len(aff_ids)):
                per[n] += 1
            with cur.copy(enr_t.copy_sql()) as cp:
                for n, k in enumerate(per):
                    for c in rng.sample(range(len(camp_rows)), k):
                        camp = camp_rows[c]
                        joined = start + timedelta(seconds=rng.randrange(300 * 86400))
                        roll = rng.random()
                        status = "active" if roll < 0.92 else "left" if roll < 0.97 else "pending"
                        left_at = (
                            now - timedelta(days=rng.randrange(1, 10)) if status == "left" else None
                        )
                        coupon = (
                            f"{aff_names[n].upper()}{n}{camp['commission_bps'] // 100}"
                            f"-{camp['slug'].upper()}"
                        )
                        token = base64.urlsafe_b64encode(rng.randbytes(9)).decode()
                        eid = uuid7_at(_ms(joined), rng)
                        enrollments.append(_Enr(eid, n, c, token, coupon, status, joined, left_at))
                        cp.write_row(enr_t.row({
                            "id": eid, "created_at": joined, "updated_at": left_at or joined,
                            "affiliate_id": aff_ids[n], "campaign_id": camp["id"],
                            "status": status, "coupon_code": coupon, "token": token,
                            "joined_at": joined,
                            "approved_at": joined if status != "pending" else None,
                            "left_at": left_at,
                        }))  # fmt: skip
            counts.enrollments = len(enrollments)
        conn.commit()

    # Live enrollments by join time, with a skewed popularity (a few affiliates bring most).
    live = sorted((e for e in enrollments if e.status != "pending"), key=lambda e: e.joined_at)
    joined_ms = [_ms(e.joined_at) for e in live]
    cum: list[float] = []
    total = 0.0
    for _ in live:
        total += 1.0 if uniform else rng.paretovariate(1.16)
        cum.append(total)

    def pick(at_ms: int) -> _Enr:
        k = max(bisect.bisect_right(joined_ms, at_ms), 1)
        return live[bisect.bisect_left(cum, rng.random() * cum[k - 1], 0, k - 1)]

    def day_counts(n: int) -> list[int]:
        """n events over DAYS days, growing linearly (a program that grows)."""
        weights = [0.3 + d / DAYS for d in range(DAYS)]
        s = sum(weights)
        out = [int(n * w / s) for w in weights]
        for d in rng.sample(range(DAYS), n - sum(out)):
            out[d] += 1
        return out

    # --- clicks: time-ordered, one COPY -----------------------------------------------------
    clicks_t = Table(Click)
    bar = Progress("clicks", want["clicks"], enabled=progress)
    with psycopg.connect(**params) as conn, conn.cursor() as cur:
        with cur.copy(clicks_t.copy_sql()) as cp:
            for d, n in enumerate(day_counts(want["clicks"])):
                day0 = _ms(start) + d * 86_400_000
                for at in sorted(day0 + rng.randrange(86_400_000) for _ in range(n)):
                    e = pick(at)
                    camp = camp_rows[e.campaign]
                    app = app_rows[e.campaign % len(app_rows)]
                    src = rng.choice(UTM_SOURCES)
                    cp.write_row(clicks_t.row({
                        "id": uuid7_at(at, rng), "enrollment_id": e.id,
                        "campaign_id": camp["id"], "app_id": app["id"],
                        "clicked_at": datetime.fromtimestamp(at / 1000, UTC),
                        "ip_hash": f"{rng.getrandbits(256):064x}",
                        "user_agent": rng.choice(USER_AGENTS), "referrer": rng.choice(REFERRERS),
                        "landing_url": f"{app['landing_url']}?ref={e.token}",
                        "utm_source": src, "utm_medium": "affiliate" if src else "",
                        "utm_campaign": "", "utm_term": "", "utm_content": "",
                    }))  # fmt: skip
                bar.advance(n)
        conn.commit()
    bar.close()
    counts.clicks = want["clicks"]

    # --- referrals, events, commissions, ledger, claims: five COPY streams side by side -------
    ref_t, ev_t, com_t, led_t, claim_t = (
        Table(Referral),
        Table(PaymentEvent),
        Table(Commission),
        Table(LedgerEntry),
        Table(LedgerClaim),
    )
    ref_days = day_counts(want["referrals"])
    # Customer lifetime in months, tuned so the referrals pay about the wanted commissions.
    mean_life = _tune_lifetime(want, ref_days, camp_rows, rng)
    # Commissions payable before the cutoff were paid out (none with `unpaid`).
    paid_cutoff = start - timedelta(days=1) if unpaid else now - timedelta(days=45)
    payouts: dict[tuple[int, str], list] = {}  # (affiliate, yyyy-mm) -> [item id, cents]
    bar = Progress("referrals", want["referrals"], enabled=progress)
    tables = (ref_t, ev_t, com_t, led_t, claim_t)
    conns = [psycopg.connect(**params) for _ in tables]
    try:
        curs = [c.cursor() for c in conns]
        copies = [cur.copy(t.copy_sql()) for cur, t in zip(curs, tables, strict=True)]
        cp_ref, cp_ev, cp_com, cp_led, cp_claim = (c.__enter__() for c in copies)
        rn = 0
        for d, n in enumerate(ref_days):
            day0 = _ms(start) + d * 86_400_000
            for at in sorted(day0 + rng.randrange(86_400_000) for _ in range(n)):
                e = pick(at)
                referred = datetime.fromtimestamp(at / 1000, UTC)
                if e.left_at is not None and referred >= e.left_at:
                    referred = e.left_at - timedelta(hours=1)
                camp = camp_rows[e.campaign]
                app = app_rows[e.campaign % len(app_rows)]
                customer = f"cus_{rn:08d}"
                self_ref = rng.random() < 0.002
                email = (
                    f"affiliate{e.affiliate:06d}@{EMAIL_DOMAIN}"
                    if self_ref
                    else f"customer{rn}@example.net"
                )
                life = 1 + int(rng.expovariate(1 / mean_life))
                ends = _add_days(referred, 30 * life)
                cancelled = ends if ends < now else None
                rid = uuid7_at(_ms(referred), rng)
                by = "coupon" if rng.random() < 0.4 else "ref"
                cp_ref.write_row(ref_t.row({
                    "id": rid, "created_at": referred, "updated_at": cancelled or referred,
                    "app_id": app["id"], "customer_id": customer, "customer_email": email,
                    "enrollment_id": e.id, "affiliate_id": aff_ids[e.affiliate],
                    "campaign_id": camp["id"], "attributed_by": by,
                    "commission_bps": camp["commission_bps"], "recurring": camp["recurring"],
                    "recurring_months": camp["recurring_months"], "hold_days": camp["hold_days"],
                    "cookie_days": camp["cookie_days"],
                    "status": "cancelled" if cancelled else "active",
                    "self_referral": self_ref, "referred_at": referred, "cancelled_at": cancelled,
                }))  # fmt: skip
                # The signup event that attributed the customer.
                data = {"app": app["slug"], "customer_id": customer, "customer_email": email}
                if by == "coupon":
                    data["coupon"] = e.coupon
                else:
                    data["ref"] = e.token
                cp_ev.write_row(ev_t.row(_event(rng, app, "subscription.created", customer, "",
                                                data, referred, "attributed")))  # fmt: skip
                counts.payment_events += 1
                if not self_ref:
                    _invoices(
                        rng, rn, e, camp, app, customer, referred, cancelled, life, now,
                        paid_cutoff, aff_ids, rid, payouts, counts,
                        (cp_ev, ev_t), (cp_com, com_t), (cp_led, led_t), (cp_claim, claim_t),
                    )  # fmt: skip
                rn += 1
            bar.advance(n)
        # Monthly payouts, settled: per item a `payout` row (-amount) and a `payout_sent` row.
        for (aff, month), (item_id, cents) in payouts.items():
            t = _payout_day(month)
            for kind, sign, at in (("payout", -1, t), ("payout_sent", 1, t + timedelta(hours=2))):
                cp_led.write_row(led_t.row({
                    "id": uuid7_at(_ms(at), rng), "affiliate_id": aff_ids[aff], "kind": kind,
                    "amount": sign * cents, "currency": "USD", "commission_id": None,
                    "basis_amount": 0, "event_id": None, "reference": f"payout item {item_id}",
                    "note": f"payout {month}", "created_at": at, "payout_item_id": item_id,
                }))  # fmt: skip
                counts.ledger_entries += 1
        for c in copies:
            c.__exit__(None, None, None)
        # Foreign keys are checked at commit (Django makes them DEFERRABLE INITIALLY DEFERRED):
        # events first, then the commissions and ledger rows that refer to them.
        # (Claims have no database foreign key: any order.)
        for i in (1, 2, 3, 0, 4):
            conns[i].commit()
    finally:
        for c in conns:
            c.close()
    bar.close()
    counts.referrals = want["referrals"]
    counts.extra["payout_items"] = _write_payouts(params, payouts, aff_ids, rng, now)
    settle_tables(GENERATED_TABLES)
    return counts.as_dict()


GENERATED_TABLES = ("users", "enrollments", "clicks", "referrals", "payment_events",
                    "commissions", "ledger_entries", "ledger_claims", "payout_items")  # fmt: skip


def settle_tables(tables: tuple[str, ...], *, rounds: int = 5) -> list[str]:
    """Statistics and the visibility map, as autovacuum would have them on a live database
    (index-only scans depend on the latter). A VACUUM that runs while another session holds an
    older snapshot (autovacuum's own ANALYZE of a freshly loaded table does, for a second or
    two) leaves its table's pages not all-visible, and every index-only read then visits the
    heap: the full-scale dashboard measured 87 ms p95 instead of 46 on such a database. So a
    table is vacuumed again until all its pages are all-visible, at most `rounds` times a
    second apart. Returns the tables still not all-visible (nothing else writes them here)."""
    from django.db import connection

    pending = list(tables)
    with connection.cursor() as cur:
        for attempt in range(rounds):
            if attempt:
                time.sleep(1.0)
            for table in pending:
                cur.execute(f'VACUUM (ANALYZE) "{table}"')
            cur.execute(
                "SELECT relname FROM pg_class WHERE relname = ANY(%s) AND relkind = 'r' "
                "AND relallvisible < relpages",
                [pending],
            )
            pending = [row[0] for row in cur.fetchall()]
            if not pending:
                break
    if pending:
        print(f"warning: not all-visible after {rounds} VACUUMs: {', '.join(pending)}",
              file=sys.stderr)  # fmt: skip
    return pending


def _payout_day(month: str) -> datetime:
    return datetime.strptime(month + "-05 09:00", "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


def _write_payouts(params: dict, payouts: dict, aff_ids: list, rng: random.Random, now) -> int:
    """The payouts context's history behind the ledger's payout rows: a confirmed PayPal
    account per affiliate, and per month one completed run and batch with its paid items."""
    import psycopg

    from kangrow.payouts.models import PayoutBatch, PayoutItem, PayoutRun, PayPalAccount

    acc_t, run_t, batch_t, item_t = (
        Table(PayPalAccount), Table(PayoutRun), Table(PayoutBatch), Table(PayoutItem)
    )  # fmt: skip
    months = sorted({month for _aff, month in payouts})
    by_month: dict[str, list] = defaultdict(list)
    for (aff, month), (item_id, cents) in payouts.items():
        by_month[month].append((aff, item_id, cents))
    with psycopg.connect(**params) as conn, conn.cursor() as cur:
        with cur.copy(acc_t.copy_sql()) as cp:
            for n, uid in enumerate(aff_ids):
                t = datetime.fromtimestamp((uid.int >> 80) / 1000, UTC)
                cp.write_row(acc_t.row({
                    "id": uuid7_at(_ms(t), rng), "created_at": t, "updated_at": t, "user_id": uid,
                    "email": f"pp-affiliate{n:06d}@{EMAIL_DOMAIN}", "confirmed_at": t,
                    "token_digest": None,
                }))  # fmt: skip
        runs, batches = {}, {}
        with cur.copy(run_t.copy_sql()) as cp:
            for month in months:
                t = _payout_day(month)
                runs[month] = uuid7_at(_ms(t), rng)
                rows = by_month[month]
                cp.write_row(run_t.row({
                    "id": runs[month], "created_at": t, "updated_at": t, "source": "schedule",
                    "minimum": 10000, "item_count": len(rows),
                    "totals": json.dumps({"USD": sum(c for _a, _i, c in rows)}),
                    "finished_at": t + timedelta(minutes=1),
                }))  # fmt: skip
        with cur.copy(batch_t.copy_sql()) as cp:
            for month in months:
                t = _payout_day(month)
                batches[month] = uuid7_at(_ms(t), rng)
                cp.write_row(batch_t.row({
                    "id": batches[month], "created_at": t, "updated_at": t + timedelta(hours=2),
                    "run_id": runs[month], "sender_batch_id": uuid7_at(_ms(t), rng),
                    "payout_batch_id": f"BENCH{rng.getrandbits(40):010X}", "status": "completed",
                    "batch_status": "SUCCESS", "attempts": 1, "last_error": "",
                    "submitted_at": t, "last_polled_at": t + timedelta(hours=2),
                    "completed_at": t + timedelta(hours=2),
                }))  # fmt: skip
        with cur.copy(item_t.copy_sql()) as cp:
            for month in months:
                t = _payout_day(month)
                for aff, item_id, cents in by_month[month]:
                    cp.write_row(item_t.row({
                        "id": item_id, "created_at": t, "updated_at": t + timedelta(hours=2),
                        "batch_id": batches[month], "sender_item_id": uuid7_at(_ms(t), rng),
                        "affiliate_id": aff_ids[aff], "amount": cents, "currency": "USD",
                        "receiver": f"pp-affiliate{aff:06d}@{EMAIL_DOMAIN}", "state": "paid",
                        "transaction_status": "SUCCESS",
                        "payout_item_id": f"BENCHI{rng.getrandbits(40):010X}",
                        "transaction_id": f"BENCHT{rng.getrandbits(40):010X}",
                        "error_name": "", "error_message": "", "unclaimed_since": None,
                        "settled_at": t + timedelta(hours=2),
                    }))  # fmt: skip
        conn.commit()
    return len(payouts)


def _add_days(t: datetime, days: int) -> datetime:
    return t + timedelta(days=days)


def _event(
    rng: random.Random,
    app: dict,
    type_: str,
    customer: str,
    invoice: str,
    data: dict,
    at: datetime,
    outcome: str,
) -> dict[str, Any]:
    done = at + timedelta(seconds=1)
    return {
        "id": uuid7_at(_ms(at), rng), "created_at": at, "updated_at": done, "source": "api",
        "external_id": f"msg_{rng.getrandbits(96):024x}", "app_id": app["id"], "type": type_,
        "customer_id": customer, "invoice_id": invoice,
        "payload": json.dumps(data | {"occurred_at": at.isoformat()}),
        "occurred_at": at, "status": "processed", "outcome": outcome, "attempts": 1,
        "last_error": "", "next_attempt_at": None, "processed_at": done,
    }  # fmt: skip


def _invoices(
    rng, rn, e, camp, app, customer, referred, cancelled, life, now, paid_cutoff, aff_ids, rid,
    payouts, counts, ev, com, led, claim,
) -> None:  # fmt: skip
    """The paid invoices of one referred customer: event, commission and ledger row each (and
    the row's claim by its payout item, once paid)."""
    (cp_ev, ev_t), (cp_com, com_t), (cp_led, led_t), (cp_claim, claim_t) = ev, com, led, claim
    cap = 1 if not camp["recurring"] else (camp["recurring_months"] or 10**6)
    plan = PLANS[rn % len(PLANS)]
    bps = camp["commission_bps"]
    amount = _rate(plan, bps)
    for m in range(min(life, cap)):
        paid = referred + timedelta(days=30 * m, minutes=5)
        if paid >= now or (cancelled is not None and paid >= cancelled):
            break
        invoice = f"in_{rn:08d}_{m:03d}"
        data = {"app": app["slug"], "customer_id": customer, "subscription_id": f"sub_{rn}",
                "invoice_id": invoice, "amount": plan, "currency": "USD"}  # fmt: skip
        event = _event(rng, app, "invoice.paid", customer, invoice, data, paid,
                       "commission_created")  # fmt: skip
        cp_ev.write_row(ev_t.row(event))
        available = paid + timedelta(days=camp["hold_days"])
        status = "pending" if available > now else "paid" if available < paid_cutoff else "payable"
        cid = uuid7_at(_ms(paid), rng)
        roll = rng.random()
        refund_at, kind = None, ""
        if roll < 0.01:  # refunded in the hold period: reversed while pending
            refund_at, kind = paid + timedelta(days=3), "refund_reversal"
        elif roll < 0.015:  # refunded after the hold period: clawed back
            refund_at, kind = available + timedelta(days=10), "clawback"
        if refund_at is not None and refund_at >= now:
            refund_at = None
        cp_com.write_row(com_t.row({
            "id": cid, "created_at": paid, "updated_at": available if status != "pending" else paid,
            "app_id": app["id"], "invoice_id": invoice, "referral_id": rid,
            "enrollment_id": e.id, "affiliate_id": aff_ids[e.affiliate],
            "campaign_id": camp["id"], "customer_id": customer, "subscription_id": f"sub_{rn}",
            "payment_ref": "", "currency": "USD", "invoice_amount": plan, "rate_bps": bps,
            "amount": amount, "reversed_amount": amount if refund_at is not None else 0,
            "paid_at": paid, "available_at": available, "status": status,
            "matured_at": available if status != "pending" else None, "event_id": event["id"],
        }))  # fmt: skip
        # A paid commission's row was claimed by that month's payout item (a fully reversed one
        # nets zero and was left alone; a later clawback waits for the next payout).
        item_id = None
        if status == "paid" and not (refund_at and kind == "refund_reversal"):
            month = (available + timedelta(days=31)).strftime("%Y-%m")
            item = payouts.get((e.affiliate, month))
            if item is None:
                item = payouts[(e.affiliate, month)] = [uuid7_at(_ms(available), rng), 0]
            item[1] += amount
            item_id = item[0]
        entry_id = uuid7_at(_ms(paid), rng)
        cp_led.write_row(led_t.row({
            "id": entry_id, "affiliate_id": aff_ids[e.affiliate],
            "kind": "commission", "amount": amount, "currency": "USD", "commission_id": cid,
            "basis_amount": plan, "event_id": event["id"], "reference": "",
            "note": f"{bps / 100:g} % of invoice {invoice}", "created_at": paid,
        }))  # fmt: skip
        if item_id is not None:
            cp_claim.write_row(claim_t.row({"entry_id": entry_id, "payout_item_id": item_id}))
        counts.payment_events += 1
        counts.commissions += 1
        counts.ledger_entries += 1
        if refund_at is not None:
            rdata = data | {"amount": plan}
            outcome = "refund_reversed" if kind == "refund_reversal" else "clawback"
            rev = _event(rng, app, "invoice.refunded", customer, invoice, rdata, refund_at, outcome)
            cp_ev.write_row(ev_t.row(rev))
            cp_led.write_row(led_t.row({
                "id": uuid7_at(_ms(refund_at), rng), "affiliate_id": aff_ids[e.affiliate],
                "kind": kind, "amount": -amount, "currency": "USD", "commission_id": cid,
                "basis_amount": plan, "event_id": rev["id"], "reference": "",
                "note": f"refund of {plan} on invoice {invoice}", "created_at": refund_at,
            }))  # fmt: skip
            counts.payment_events += 1
            counts.ledger_entries += 1


def _tune_lifetime(
    want: dict[str, int], ref_days: list[int], camps: list[dict], rng: random.Random
) -> float:
    """Mean customer lifetime (months) that makes referrals pay about `commissions` invoices."""
    target = want["commissions"] / max(want["referrals"], 1)
    sample_rng = random.Random(rng.random())
    days = sample_rng.choices(range(DAYS), weights=[n + 1e-9 for n in ref_days], k=5000)
    sample = [(DAYS - d, camps[sample_rng.randrange(len(camps))]) for d in days]
    draws = [sample_rng.random() for _ in sample]

    def mean_paid(mu: float) -> float:
        total = 0
        for (age, camp), u in zip(sample, draws, strict=True):
            life = 1 + int(-math.log(1 - u) * mu)
            cap = 1 if not camp["recurring"] else (camp["recurring_months"] or 10**6)
            total += min(life, cap, age // 30 + 1)
        return total / max(len(sample), 1)

    lo, hi = 0.01, 200.0
    for _ in range(30):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if mean_paid(mid) < target else (lo, mid)
    return (lo + hi) / 2


def _setup_django(settings_module: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module)
    import django

    django.setup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1 = the full program")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--migrate", action="store_true", help="run migrations first")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--unpaid", action="store_true", help="no payout history")
    parser.add_argument("--uniform", action="store_true", help="equally popular affiliates")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=N",
        help="override one count, e.g. --set clicks=0 (names: " + ", ".join(FULL) + ")",
    )  # fmt: skip
    args = parser.parse_args(argv)
    overrides = {}
    for item in args.set:
        name, _, value = item.partition("=")
        if name not in FULL or not value.isdigit():
            parser.error(f"--set {item!r}: expected one of {', '.join(FULL)} = a number")
        overrides[name] = int(value)
    _setup_django("config.settings.local")
    if args.migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
    started = time.monotonic()
    counts = generate(scale=args.scale, seed=args.seed, progress=not args.quiet,
                      overrides=overrides, unpaid=args.unpaid, uniform=args.uniform)  # fmt: skip
    counts["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
