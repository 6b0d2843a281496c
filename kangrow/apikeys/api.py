"""The apikeys context's public API: create, authenticate, list and revoke API keys.

A key is `kg_app_<random>` (acts for one app) or `kg_staff_<random>` (scoped provisioning). The
raw key is returned once by `create_api_key`; the database keeps its SHA-256 hex digest, and
lookups compare digests through the unique index.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.db.models import Q
from django.utils import timezone

from .models import ApiKey

APP_PREFIX = "kg_app_"
STAFF_PREFIX = "kg_staff_"
SCOPES = (
    "apps:write",
    "campaigns:write",
    "affiliates:write",
    "enrollments:write",
    "events:read",
    "events:write",
)
LAST_USED_GRANULARITY = timedelta(minutes=1)
MAX_KEY_LENGTH = 128


class ApiKeyError(ValueError):
    """Input the apikeys context refuses, with a stable code and the offending field."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


@dataclass(frozen=True)
class ApiKeyRef:
    id: UUID
    name: str
    kind: str  # "app" or "staff"
    app_id: UUID | None
    scopes: tuple[str, ...]
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    def has_scope(self, scope: str) -> bool:
        return self.kind == ApiKey.Kind.STAFF and scope in self.scopes


def _ref(row: ApiKey) -> ApiKeyRef:
    return ApiKeyRef(
        id=row.id,
        name=row.name,
        kind=row.kind,
        app_id=row.app_id,
        scopes=tuple(row.scopes or ()),
        prefix=row.prefix,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def create_api_key(
    *, kind: str, name: str, app_id: UUID | None = None, scopes: list[str] | tuple[str, ...] = ()
) -> tuple[ApiKeyRef, str]:
    """Create a key; returns (key, raw key). The raw key is not stored and cannot be shown again.

    App keys need `app_id` and take no scopes; staff keys take scopes from SCOPES."""
    name = (name or "").strip()
    if not name or len(name) > 120 or "\x00" in name:
        raise ApiKeyError("invalid", "a name of 1 to 120 characters is required", "name")
    if kind == ApiKey.Kind.APP:
        if app_id is None:
            raise ApiKeyError("invalid", "an app key needs an app", "app")
        if scopes:
            raise ApiKeyError("invalid", "app keys take no scopes", "scopes")
        prefix = APP_PREFIX
    elif kind == ApiKey.Kind.STAFF:
        if app_id is not None:
            raise ApiKeyError("invalid", "staff keys are not tied to an app", "app")
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown:
            raise ApiKeyError("invalid", f"unknown scope {unknown[0]!r}", "scopes")
        prefix = STAFF_PREFIX
    else:
        raise ApiKeyError("invalid", 'kind must be "app" or "staff"', "kind")
    raw = prefix + secrets.token_urlsafe(32)
    row = ApiKey.objects.create(
        name=name,
        kind=kind,
        app_id=app_id,
        scopes=sorted(set(scopes)),
        prefix=raw[: len(prefix) + 6],
        key_hash=hash_key(raw),
    )
    return _ref(row), raw


def looks_like_api_key(raw: str) -> bool:
    return isinstance(raw, str) and raw.startswith((APP_PREFIX, STAFF_PREFIX))


def authenticate_api_key(*, raw: str) -> ApiKeyRef | None:
    """The live (not revoked) key with this value, or None. Records the use at most once a
    minute (a conditional UPDATE, so a busy key costs no write per request)."""
    if not looks_like_api_key(raw) or len(raw) > MAX_KEY_LENGTH or "\x00" in raw:
        return None
    row = ApiKey.objects.filter(key_hash=hash_key(raw), revoked_at__isnull=True).first()
    if row is None:
        return None
    now = timezone.now()
    if row.last_used_at is None or row.last_used_at < now - LAST_USED_GRANULARITY:
        ApiKey.objects.filter(pk=row.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_GRANULARITY)
        ).update(last_used_at=now)
        row.last_used_at = now
    return _ref(row)


def revoke_api_key(*, key_id: UUID) -> bool:
    """Revoke a key at once; True when this call revoked it (False: unknown or already)."""
    return bool(
        ApiKey.objects.filter(pk=key_id, revoked_at__isnull=True).update(revoked_at=timezone.now())
    )


def get_api_key(*, key_id: UUID) -> ApiKeyRef | None:
    row = ApiKey.objects.filter(pk=key_id).first()
    return _ref(row) if row else None


def list_api_keys(*, app_id: UUID | None = None) -> list[ApiKeyRef]:
    qs = ApiKey.objects.order_by("-created_at")
    if app_id is not None:
        qs = qs.filter(app_id=app_id)
    return [_ref(r) for r in qs]
