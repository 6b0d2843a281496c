"""The onboarding context's public API: briefs read, first link shared, and the checklist.

The checklist has five items: profile completed (first and last name), PayPal email set and
confirmed, first campaign joined, first link shared (a copy/share click, or a first click on any
of the affiliate's links), and every joined app's brief read. Once all five are done the moment
is stored (`completed_at`) and from then on the checklist costs one query per page.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from kangrow.programs import api as programs
from kangrow.tracking import api as tracking

from .models import BriefRead, OnboardingProgress

PROFILE, PAYPAL, CAMPAIGN, SHARED, BRIEFS = "profile", "paypal", "campaign", "shared", "briefs"
LABELS = {
    PROFILE: "Complete your profile (first and last name)",
    PAYPAL: "Set and confirm your PayPal email",
    CAMPAIGN: "Join your first campaign",
    SHARED: "Share your first link",
    BRIEFS: "Read the brief of every app you promote",
}
JOINED_STATUSES = ("active", "pending")


class OnboardingError(Exception):
    """A request the onboarding context refuses, with a stable code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class ChecklistItem:
    key: str
    label: str
    done: bool


@dataclass(frozen=True)
class Checklist:
    items: tuple[ChecklistItem, ...]
    completed: bool

    @property
    def done_count(self) -> int:
        return sum(1 for item in self.items if item.done)

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def percent(self) -> int:
        return self.done_count * 100 // self.total if self.total else 100


def _paypal_confirmed(user_id: uuid.UUID) -> bool:
    """Read through the payouts context when it exists (it may be deployed later)."""
    try:
        from kangrow.payouts import api as payouts  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return False
    getter = getattr(payouts, "get_paypal_email", None)
    if getter is None:
        return False
    view = getter(user_id=user_id)
    return bool(view is not None and getattr(view, "confirmed", False))


def _progress_row(affiliate_id: uuid.UUID) -> OnboardingProgress:
    try:
        with transaction.atomic():
            row, _ = OnboardingProgress.objects.get_or_create(affiliate_id=affiliate_id)
    except IntegrityError:  # a concurrent request created it first
        row = OnboardingProgress.objects.get(affiliate_id=affiliate_id)
    return row


def _all_done(completed: bool = True) -> Checklist:
    return Checklist(
        items=tuple(ChecklistItem(key, label, True) for key, label in LABELS.items()),
        completed=completed,
    )


def get_checklist(*, user: Any) -> Checklist:
    """The affiliate's checklist. One query once complete; until then a handful (progress,
    enrollments, briefs read, PayPal email, clicks). Records completion when all are done."""
    progress = OnboardingProgress.objects.filter(affiliate_id=user.pk).first()
    if progress is not None and progress.completed_at is not None:
        return _all_done()
    every = programs.list_enrollments(affiliate_id=user.pk)
    enrollments = [e for e in every if e.status in JOINED_STATUSES]
    joined_apps = {e.app_id for e in enrollments}
    shared = progress is not None and progress.first_link_shared_at is not None
    # a click on any of their links counts, even of a campaign they left since
    if not shared and every and tracking.count_clicks(enrollment_ids=[e.id for e in every]):
        shared = record_first_share(affiliate_id=user.pk)
    read = set(BriefRead.objects.filter(affiliate_id=user.pk).values_list("app_id", flat=True))
    done = {
        PROFILE: bool((user.first_name or "").strip() and (user.last_name or "").strip()),
        PAYPAL: _paypal_confirmed(user.pk),
        CAMPAIGN: any(e.status == "active" for e in enrollments),
        SHARED: shared,
        BRIEFS: bool(joined_apps) and joined_apps <= read,
    }
    if all(done.values()):
        _progress_row(user.pk)
        OnboardingProgress.objects.filter(affiliate_id=user.pk, completed_at__isnull=True).update(
            completed_at=timezone.now(), updated_at=timezone.now()
        )
        return _all_done()
    return Checklist(
        items=tuple(ChecklistItem(key, LABELS[key], done[key]) for key in LABELS),
        completed=False,
    )


def record_first_share(*, affiliate_id: uuid.UUID) -> bool:
    """Remember the first time the affiliate shared a link (idempotent: the first time stays)."""
    _progress_row(affiliate_id)
    now = timezone.now()
    OnboardingProgress.objects.filter(
        affiliate_id=affiliate_id, first_link_shared_at__isnull=True
    ).update(first_link_shared_at=now, updated_at=now)
    return True


def record_link_shared(*, affiliate_id: uuid.UUID, campaign_slug: str) -> None:
    """A copy or share button of the affiliate's own enrollment was used."""
    e = programs.get_affiliate_enrollment(affiliate_id=affiliate_id, campaign_slug=campaign_slug)
    if e is None:
        raise OnboardingError("not_enrolled", "You are not in this campaign.")
    record_first_share(affiliate_id=affiliate_id)


def mark_brief_read(*, affiliate_id: uuid.UUID, app_slug: str) -> bool:
    """ "I've read this" on an app's brief. Returns True the first time; idempotent."""
    app = programs.get_app_brief(slug=app_slug)
    if app is None:
        raise OnboardingError("unknown_app", "No such app.")
    try:
        with transaction.atomic():
            _, created = BriefRead.objects.get_or_create(
                affiliate_id=affiliate_id, app_id=app.id, defaults={"read_at": timezone.now()}
            )
    except IntegrityError:  # a concurrent click won
        return False
    return created


def list_read_app_ids(*, affiliate_id: uuid.UUID) -> set[uuid.UUID]:
    """Ids of the apps whose brief the affiliate marked read."""
    return set(BriefRead.objects.filter(affiliate_id=affiliate_id).values_list("app_id", flat=True))


@dataclass(frozen=True)
class BriefStatus:
    app: Any  # a programs App row: name, slug, goals, ideal_customer, value_proposition…
    joined: bool
    read: bool


@dataclass(frozen=True)
class Overview:
    company: Any  # the programs CompanyProfile row, or None before staff write it
    briefs: tuple[BriefStatus, ...]  # the apps the affiliate promotes first, then the others


def get_overview(*, user: Any) -> Overview:
    """What the onboarding page teaches: the company, then every active app's brief."""
    joined = {
        e.app_id
        for e in programs.list_enrollments(affiliate_id=user.pk)
        if e.status in JOINED_STATUSES
    }
    read = list_read_app_ids(affiliate_id=user.pk)
    briefs = [
        BriefStatus(app=app, joined=app.id in joined, read=app.id in read)
        for app in programs.list_active_apps()
    ]
    briefs.sort(key=lambda b: not b.joined)  # stable: by name within each group
    return Overview(company=programs.get_company_profile(), briefs=tuple(briefs))
