"""The accounts context's public API (a port of Phoenix 1.8 phx.gen.auth's `Accounts`).

Other contexts and the web layer call only these functions. Every token handed to a person is
random; the database keeps its SHA-256 digest, lookups compare digests, and single-use tokens
are consumed by a DELETE/UPDATE whose row count decides who won (no check-then-act races).
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from kangrow.core.text import reject_nul
from kangrow.notifications import api as notifications_api

from . import emails, tokens
from .models import RefreshToken, User, UserToken

SESSION_VALIDITY = timedelta(days=14)
MAGIC_LINK_VALIDITY = timedelta(minutes=15)
CONFIRM_VALIDITY = timedelta(days=7)
CHANGE_EMAIL_VALIDITY = timedelta(days=7)
RESET_PASSWORD_VALIDITY = timedelta(days=1)
SUDO_MINUTES = 15

SESSION_CONTEXT = "session"
LOGIN_CONTEXT = "login"
CONFIRM_CONTEXT = "confirm"
CHANGE_CONTEXT_PREFIX = "change:"

# Requests that send email (magic link, reset, resend confirmation), per window.
EMAIL_REQUEST_WINDOW = timedelta(minutes=15)
EMAIL_REQUESTS_PER_IP = 10
EMAIL_REQUESTS_PER_EMAIL = 3


class RequestOutcome(enum.Enum):
    """Result of a request that may send an email; never says whether the address exists."""

    ACCEPTED = "accepted"
    RATE_LIMITED = "rate_limited"


@dataclass(frozen=True, slots=True)
class LogIn:
    """A successful login: the user and the raw session token to keep in the session."""

    user: User
    session_token: str
    confirmed_now: bool = False


# --------------------------------------------------------------------------- helpers


def _now():  # type: ignore[no-untyped-def]
    return timezone.now()


def _clean_email(value: str) -> str:
    value = (value or "").strip()
    try:
        reject_nul(value)
    except ValidationError as exc:
        raise ValidationError({"email": exc.messages})
    if len(value) > 160:
        raise ValidationError({"email": "Enter a valid email address (at most 160 characters)."})
    try:
        validate_email(value)
    except ValidationError:
        raise ValidationError({"email": "Enter a valid email address."})
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def _check_password(password: str, user: User | None = None, field: str = "password") -> None:
    try:
        reject_nul(password or "")
        validate_password(password or "", user=user)
    except ValidationError as exc:
        raise ValidationError({field: exc.messages})


def _rate_limited(*, key: str, limit: int, window: timedelta) -> bool:
    """Counts one request under `key`; True when the count in this window exceeds `limit`."""
    full = f"kangrow:rl:{tokens.hex_digest(key)}"
    seconds = int(window.total_seconds())
    if cache.add(full, 1, timeout=seconds):
        return limit < 1
    try:
        count = cache.incr(full)
    except ValueError:  # expired between add and incr
        cache.add(full, 1, timeout=seconds)
        count = 1
    return count > limit


def _email_request_limited(*, kind: str, ip: str | None, email: str) -> bool:
    window = EMAIL_REQUEST_WINDOW
    by_ip = _rate_limited(key=f"{kind}:ip:{ip or '-'}", limit=EMAIL_REQUESTS_PER_IP, window=window)
    by_email = _rate_limited(
        key=f"{kind}:email:{email.strip().lower()}", limit=EMAIL_REQUESTS_PER_EMAIL, window=window
    )
    return by_ip or by_email


def _url(path: str) -> str:
    return settings.KANGROW_BASE_URL.rstrip("/") + path


def _build_email_token(*, user: User, context: str, sent_to: str) -> str:
    raw = tokens.new_raw_token()
    UserToken.objects.create(user=user, token=tokens.digest(raw), context=context, sent_to=sent_to)
    return raw


def _consume_email_token(*, token: str, context: str, validity: timedelta) -> UserToken | None:
    """Find a live email token for `context`, sent to the user's current address, and delete it.

    Returns the row (with its user) only to the caller whose DELETE removed it: single use.
    """
    row = _find_email_token(token=token, context=context, validity=validity)
    if row is None:
        return None
    deleted, _ = UserToken.objects.filter(pk=row.pk).delete()
    return row if deleted else None


def _find_email_token(*, token: str, context: str, validity: timedelta) -> UserToken | None:
    if not token or "\x00" in token or len(token) > 200:
        return None
    digest = tokens.digest(token)
    row = (
        UserToken.objects.select_related("user")
        .filter(token=digest, context=context, created_at__gt=_now() - validity)
        .first()
    )
    if row is None or not tokens.same(bytes(row.token), digest):
        return None
    if (row.sent_to or "").lower() != row.user.email.lower() or not row.user.is_active:
        return None
    return row


def _kill_sessions_and_refresh_tokens(*, user_id: uuid.UUID, keep_token_id=None) -> None:  # type: ignore[no-untyped-def]
    sessions = UserToken.objects.filter(user_id=user_id, context=SESSION_CONTEXT)
    if keep_token_id is not None:
        sessions = sessions.exclude(pk=keep_token_id)
    sessions.delete()
    RefreshToken.objects.filter(user_id=user_id, revoked=False).update(revoked=True)


# --------------------------------------------------------------------------- reads


def get_user(*, user_id: uuid.UUID) -> User | None:
    """The user with this id (soft-deleted users included), or None."""
    return User.objects.filter(pk=user_id).first()


def get_user_by_email(*, email: str) -> User | None:
    """The user with this address (case-insensitive), or None."""
    if not email or "\x00" in email:
        return None
    return User.objects.filter(email=email.strip()).first()


# --------------------------------------------------------------------------- registration


def register_user(*, email: str, password: str, ip: str | None) -> LogIn:
    """Create an unconfirmed user, send the confirmation email (on commit) and log them in
    (as gen.auth's registration controller does), so they land on the waiting page.

    Raises ValidationError with field errors ("email", "password") and writes nothing.
    """
    email = _clean_email(email)
    _check_password(password, User(email=email))
    try:
        with transaction.atomic():
            user = User.objects.create_user(email, password)
            _send_confirmation(user=user)
            raw = _record_login(user=user, ip=ip)
    except IntegrityError:
        raise ValidationError({"email": "This email has already been taken."})
    return LogIn(user=user, session_token=raw)


def _send_confirmation(*, user: User) -> None:
    raw = _build_email_token(user=user, context=CONFIRM_CONTEXT, sent_to=user.email)
    emails.send_on_commit(
        to=user.email,
        template="confirm",
        subject="Confirm your KanGrow account",
        context={"user": user, "url": _url(f"/accounts/confirm/{raw}")},
    )


def deliver_confirmation_instructions(*, user_id: uuid.UUID, ip: str | None) -> RequestOutcome:
    """Send a fresh confirmation link to an unconfirmed user (no-op when already confirmed)."""
    user = get_user(user_id=user_id)
    if user is None or not user.is_active:
        return RequestOutcome.ACCEPTED
    if _email_request_limited(kind="confirm", ip=ip, email=user.email):
        return RequestOutcome.RATE_LIMITED
    if not user.email_verified:
        with transaction.atomic():
            _send_confirmation(user=user)
    return RequestOutcome.ACCEPTED


def get_user_by_confirm_token(*, token: str) -> User | None:
    """The unconsumed confirmation token's user (for the confirmation page), or None."""
    row = _find_email_token(token=token, context=CONFIRM_CONTEXT, validity=CONFIRM_VALIDITY)
    return row.user if row else None


def _mark_confirmed(*, user: User) -> None:
    now = _now()
    User.objects.filter(pk=user.pk).update(
        email_verified=True, verified=True, confirmed_at=now, updated_at=now
    )
    user.email_verified = user.verified = True
    user.confirmed_at = now


def confirm_user(*, token: str) -> User | None:
    """Confirm the email behind a confirmation token (7 days, single use); None when invalid."""
    with transaction.atomic():
        row = _consume_email_token(token=token, context=CONFIRM_CONTEXT, validity=CONFIRM_VALIDITY)
        if row is None:
            return None
        user = row.user
        if user.confirmed_at is None:
            _mark_confirmed(user=user)
        UserToken.objects.filter(user=user, context=CONFIRM_CONTEXT).delete()
    return user


# --------------------------------------------------------------------------- sessions


def generate_user_session_token(*, user: User) -> str:
    """Create a session token row and return the raw token for the cookie/session."""
    raw = tokens.new_raw_token()
    UserToken.objects.create(
        user=user,
        token=tokens.digest(raw),
        context=SESSION_CONTEXT,
        authenticated_at=_now(),
    )
    return raw


def get_user_by_session_token(*, token: str) -> tuple[User, UserToken] | None:
    """The live user behind a session token, or None (expired, unknown, banned, deleted)."""
    if not token or "\x00" in token or len(token) > 200:
        return None
    digest = tokens.digest(token)
    row = (
        UserToken.objects.select_related("user")
        .filter(token=digest, context=SESSION_CONTEXT, created_at__gt=_now() - SESSION_VALIDITY)
        .first()
    )
    if row is None or not tokens.same(bytes(row.token), digest) or not row.user.is_active:
        return None
    return row.user, row


def delete_user_session_token(*, token: str) -> None:
    """Log out this device: its session token stops working."""
    if token:
        UserToken.objects.filter(token=tokens.digest(token), context=SESSION_CONTEXT).delete()


def log_out_everywhere(*, user_id: uuid.UUID) -> int:
    """Delete every session token of the user; returns how many were deleted."""
    deleted, _ = UserToken.objects.filter(user_id=user_id, context=SESSION_CONTEXT).delete()
    return deleted


def is_sudo_mode(*, token_row: UserToken | None, minutes: int = SUDO_MINUTES) -> bool:
    """True when the session authenticated within the last `minutes` (sensitive settings)."""
    if token_row is None or token_row.authenticated_at is None:
        return False
    return token_row.authenticated_at > _now() - timedelta(minutes=minutes)


def _record_login(*, user: User, ip: str | None) -> str:
    now = _now()
    User.objects.filter(pk=user.pk).update(
        logins_count=F("logins_count") + 1, last_login=now, last_ip=(ip or "")[:255] or None
    )
    user.refresh_from_db(fields=["logins_count", "last_login", "last_ip"])
    return generate_user_session_token(user=user)


def log_in_with_password(*, request, email: str, password: str) -> LogIn | None:  # type: ignore[no-untyped-def]
    """Check the password through django.contrib.auth (so django-axes counts failures and locks
    out); on success record the login and issue a session token. None means "Invalid email or
    password" (unknown, wrong, banned, blocked, deleted or locked out alike)."""
    email = (email or "").strip()
    if not email or not password or "\x00" in email or "\x00" in password:
        return None
    user = authenticate(request=request, email=email.lower(), password=password)
    if user is None or not user.is_active:
        return None
    from axes.utils import reset as axes_reset

    ip = request.META.get("REMOTE_ADDR")
    with transaction.atomic():
        raw = _record_login(user=user, ip=ip)
    axes_reset(username=email.lower())
    if ip:
        axes_reset(ip=ip)
    return LogIn(user=user, session_token=raw)


# --------------------------------------------------------------------------- magic links


def request_magic_link(*, email: str, ip: str | None) -> RequestOutcome:
    """Email a 15-minute single-use login link when the address belongs to an active user.

    The answer is the same whether or not the address exists; rate-limited per IP and email.
    """
    email = (email or "").strip()
    if not email or "\x00" in email or len(email) > 255:
        return RequestOutcome.ACCEPTED
    if _email_request_limited(kind="login", ip=ip, email=email):
        return RequestOutcome.RATE_LIMITED
    user = get_user_by_email(email=email)
    if user is None or not user.is_active:
        return RequestOutcome.ACCEPTED
    with transaction.atomic():
        raw = _build_email_token(user=user, context=LOGIN_CONTEXT, sent_to=user.email)
        emails.send_on_commit(
            to=user.email,
            template="magic_link",
            subject="Your KanGrow log-in link",
            context={"user": user, "url": _url(f"/accounts/log-in/{raw}")},
        )
    return RequestOutcome.ACCEPTED


def get_user_by_magic_link_token(*, token: str) -> User | None:
    """The user a live magic link belongs to (for the confirmation page), without consuming it."""
    row = _find_email_token(token=token, context=LOGIN_CONTEXT, validity=MAGIC_LINK_VALIDITY)
    return row.user if row else None


def log_in_with_magic_link(*, token: str, ip: str | None) -> LogIn | None:
    """Consume a magic link (15 minutes, single use, only for the address it was sent to).

    As in gen.auth 1.8 the link also confirms an unconfirmed user. Because the address was not
    yet proven when a password was chosen, that password is discarded and every other token is
    deleted (the "mixing magic link and password registration" rule), so whoever registered the
    address cannot log in with it.
    """
    with transaction.atomic():
        row = _consume_email_token(token=token, context=LOGIN_CONTEXT, validity=MAGIC_LINK_VALIDITY)
        if row is None:
            return None
        user = row.user
        confirmed_now = False
        if user.confirmed_at is None:
            _mark_confirmed(user=user)
            if user.has_usable_password():
                user.set_unusable_password()
                user.save(update_fields=["password", "updated_at"])
            UserToken.objects.filter(user=user).delete()
            RefreshToken.objects.filter(user=user, revoked=False).update(revoked=True)
            confirmed_now = True
        raw = _record_login(user=user, ip=ip)
    return LogIn(user=user, session_token=raw, confirmed_now=confirmed_now)


# --------------------------------------------------------------------------- password reset


def request_password_reset(*, email: str, ip: str | None) -> RequestOutcome:
    """Email a 1-day single-use reset link; same answer whether or not the address exists."""
    email = (email or "").strip()
    if not email or "\x00" in email or len(email) > 255:
        return RequestOutcome.ACCEPTED
    if _email_request_limited(kind="reset", ip=ip, email=email):
        return RequestOutcome.RATE_LIMITED
    user = get_user_by_email(email=email)
    if user is None or not user.is_active:
        return RequestOutcome.ACCEPTED
    raw = tokens.new_raw_token()
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(
            reset_password_token=tokens.hex_digest(raw), reset_password_sent_at=_now()
        )
        emails.send_on_commit(
            to=user.email,
            template="reset_password",
            subject="Reset your KanGrow password",
            context={"user": user, "url": _url(f"/accounts/reset-password/{raw}")},
        )
    return RequestOutcome.ACCEPTED


def get_user_by_reset_password_token(*, token: str) -> User | None:
    if not token or "\x00" in token or len(token) > 200:
        return None
    digest = tokens.hex_digest(token)
    user = User.objects.filter(
        reset_password_token=digest,
        reset_password_sent_at__gt=_now() - RESET_PASSWORD_VALIDITY,
    ).first()
    if user is None or not tokens.same(user.reset_password_token or "", digest):
        return None
    return user if user.is_active else None


def reset_password(*, token: str, password: str, password_confirmation: str) -> User | None:
    """Set a new password from a reset token (single use). None when the token is invalid;
    ValidationError when the password is not acceptable (nothing written).

    Success records last_password_reset, deletes every session and revokes every refresh token.
    """
    user = get_user_by_reset_password_token(token=token)
    if user is None:
        return None
    if password != password_confirmation:
        raise ValidationError({"password_confirmation": "The passwords do not match."})
    _check_password(password, user)
    user.set_password(password)
    now = _now()
    with transaction.atomic():
        won = User.objects.filter(
            pk=user.pk, reset_password_token=user.reset_password_token
        ).update(
            password=user.password,
            reset_password_token=None,
            reset_password_sent_at=None,
            last_password_reset=now,
            updated_at=now,
        )
        if not won:
            return None
        _kill_sessions_and_refresh_tokens(user_id=user.pk)
    user.refresh_from_db()
    return user


# --------------------------------------------------------------------------- settings


def request_email_change(*, user: User, new_email: str) -> None:
    """Send a 7-day confirmation link to the NEW address; the email changes only when it is
    followed. Raises ValidationError({"email": ...}) and sends nothing on bad input."""
    new_email = _clean_email(new_email)
    if new_email.lower() == user.email.lower():
        raise ValidationError({"email": "The email did not change."})
    if User.objects.filter(email=new_email).exists():
        # A UX hint only; the unique index decides when the change is applied.
        raise ValidationError({"email": "This email has already been taken."})
    with transaction.atomic():
        raw = _build_email_token(
            user=user, context=f"{CHANGE_CONTEXT_PREFIX}{user.email}", sent_to=new_email
        )
        emails.send_on_commit(
            to=new_email,
            template="change_email",
            subject="Confirm your new KanGrow email",
            context={"user": user, "url": _url(f"/accounts/settings/confirm-email/{raw}")},
        )


def apply_email_change(*, user: User, token: str) -> bool:
    """Apply a change-email token of this user (7 days, single use); deletes all change tokens."""
    if not token or "\x00" in token or len(token) > 200:
        return False
    context = f"{CHANGE_CONTEXT_PREFIX}{user.email}"
    digest = tokens.digest(token)
    try:
        with transaction.atomic():
            row = UserToken.objects.filter(
                user=user,
                token=digest,
                context=context,
                created_at__gt=_now() - CHANGE_EMAIL_VALIDITY,
            ).first()
            if row is None or not row.sent_to or not tokens.same(bytes(row.token), digest):
                return False
            deleted, _ = UserToken.objects.filter(pk=row.pk).delete()
            if not deleted:
                return False
            now = _now()
            User.objects.filter(pk=user.pk).update(
                email=row.sent_to,
                email_verified=True,
                verified=True,
                confirmed_at=user.confirmed_at or now,
                updated_at=now,
            )
            UserToken.objects.filter(user=user, context=context).delete()
    except IntegrityError:
        return False
    user.refresh_from_db()
    return True


def change_password(
    *, user: User, current_token_id: uuid.UUID | None, password: str, password_confirmation: str
) -> None:
    """Set a new password (the caller checked sudo mode). Every other session of the user is
    deleted and refresh tokens revoked; the current session stays. ValidationError on bad input."""
    if password != password_confirmation:
        raise ValidationError({"password_confirmation": "The passwords do not match."})
    _check_password(password, user)
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password", "updated_at"])
        _kill_sessions_and_refresh_tokens(user_id=user.pk, keep_token_id=current_token_id)


def update_profile(*, user: User, first_name: str, last_name: str, avatar_url: str) -> None:
    """Update the names and avatar URL; ValidationError with field errors on bad input."""
    errors: dict[str, str] = {}
    values = {
        "first_name": (first_name or "").strip(),
        "last_name": (last_name or "").strip(),
        "avatar_url": (avatar_url or "").strip(),
    }
    for field, value in values.items():
        if "\x00" in value:
            errors[field] = "This value contains a NUL character, which is not allowed."
        elif len(value) > 255:
            errors[field] = "At most 255 characters."
    if values["avatar_url"] and "avatar_url" not in errors:
        try:
            URLValidator(schemes=["https", "http"])(values["avatar_url"])
        except ValidationError:
            errors["avatar_url"] = "Enter a valid http(s) URL."
    if errors:
        raise ValidationError(errors)
    User.objects.filter(pk=user.pk).update(
        first_name=values["first_name"] or None,
        last_name=values["last_name"] or None,
        avatar_url=values["avatar_url"] or None,
        updated_at=_now(),
    )
    user.refresh_from_db(fields=["first_name", "last_name", "avatar_url"])


# --------------------------------------------------------------------------- admin actions


def _set_flags_and_revoke(*, user_id: uuid.UUID, **flags: object) -> bool:
    with transaction.atomic():
        updated = User.objects.filter(pk=user_id).update(**flags, updated_at=_now())
        if updated:
            _kill_sessions_and_refresh_tokens(user_id=user_id)
    return bool(updated)


def ban_user(*, user_id: uuid.UUID) -> bool:
    """Ban: no login; every session and refresh token stops working at once."""
    return _set_flags_and_revoke(user_id=user_id, banned=True)


def unban_user(*, user_id: uuid.UUID) -> bool:
    return bool(User.objects.filter(pk=user_id).update(banned=False, updated_at=_now()))


def block_user(*, user_id: uuid.UUID) -> bool:
    """Block: no login; every session and refresh token stops working at once."""
    return _set_flags_and_revoke(user_id=user_id, blocked=True)


def unblock_user(*, user_id: uuid.UUID) -> bool:
    return bool(User.objects.filter(pk=user_id).update(blocked=False, updated_at=_now()))


def soft_delete_user(*, user_id: uuid.UUID) -> bool:
    """Soft delete (deleted_at): gone for every purpose but the ledger; sessions revoked."""
    return _set_flags_and_revoke(user_id=user_id, deleted_at=_now())


def approve_affiliates(*, user_ids: list[uuid.UUID]) -> int:
    """Approve verified, not yet approved, active users; each gets an email on commit.

    Returns how many were approved (others in the list are left alone)."""
    with transaction.atomic():
        users = list(
            User.objects.select_for_update()
            .filter(
                pk__in=list(user_ids),
                verified=True,
                approved_affiliate=False,
                banned=False,
                blocked=False,
                deleted_at__isnull=True,
            )
            .order_by("pk")
        )
        now = _now()
        User.objects.filter(pk__in=[u.pk for u in users]).update(
            approved_affiliate=True, rejected_at=None, rejection_reason="", updated_at=now
        )
        for user in users:
            # the decision email is transactional (always sent); the in-app row joins the
            # affiliate's notification centre
            emails.send_on_commit(
                to=user.email,
                template="approved",
                subject="You are approved as a KanGrow affiliate",
                context={"user": user, "url": _url("/dashboard/")},
            )
            notifications_api.notify(
                user_id=user.pk,
                kind="affiliate.approved",
                title="You are approved as a KanGrow affiliate",
                body="Join campaigns from the catalog and share your links and coupon codes.",
                email=False,
                dedupe_key=f"affiliate.approved:{user.pk}:{now.isoformat()}",
            )
    return len(users)


def reject_affiliates(*, user_ids: list[uuid.UUID], reason: str) -> int:
    """Reject verified, not yet approved users with a reason; each gets an email on commit."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Give the affiliate a reason."})
    if "\x00" in reason:
        raise ValidationError(
            {"reason": "This value contains a NUL character, which is not allowed."}
        )
    with transaction.atomic():
        users = list(
            User.objects.select_for_update()
            .filter(pk__in=list(user_ids), verified=True, approved_affiliate=False)
            .order_by("pk")
        )
        now = _now()
        User.objects.filter(pk__in=[u.pk for u in users]).update(
            rejected_at=now, rejection_reason=reason, updated_at=now
        )
        for user in users:
            emails.send_on_commit(
                to=user.email,
                template="rejected",
                subject="Your KanGrow affiliate application",
                context={"user": user, "reason": reason},
            )
    return len(users)


# --------------------------------------------------------------------------- demo/provisioning


def upsert_affiliate(
    *, email: str, password: str | None, verified: bool, approved: bool
) -> tuple[User, bool]:
    """Create or update an affiliate without emails (demo data, provisioning).

    Idempotent: returns (user, created). A password given is (re)set; the confirmation and
    approval columns are set to match verified/approved (a changed entry updates them)."""
    email = _clean_email(email)
    if password is not None:
        _check_password(password, User(email=email))
    now = _now()
    with transaction.atomic():
        user, created = User.objects.get_or_create(email=email)
        if password is not None and (created or not user.check_password(password)):
            user.set_password(password)
        elif created:
            user.set_unusable_password()
        if verified:
            user.email_verified = user.verified = True
            user.confirmed_at = user.confirmed_at or now
        else:
            user.email_verified = user.verified = False
            user.confirmed_at = None
        if approved and not user.approved_affiliate:
            user.rejected_at = None
            user.rejection_reason = ""
        user.approved_affiliate = approved
        user.save()
    return user, created


# --------------------------------------------------------------------------- API tokens
#
# Affiliates of the JSON API get a short-lived signed access token and a random refresh token
# (kept in refresh_tokens as its SHA-256 hex digest). Each rotation of one log-in shares a
# family_id: the access token carries it, and works only while the family has a live refresh
# token and the user may still log in, so a ban, a revoke or detected reuse stops it at once.

ACCESS_TOKEN_VALIDITY = timedelta(minutes=15)
REFRESH_TOKEN_VALIDITY = timedelta(days=30)
_ACCESS_SALT = "kangrow.accounts.api-access-token"
REFRESH_PREFIX = "kgr_"


class ApiTokenError(Exception):
    """Why the API refuses to issue or rotate tokens, as a stable code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True, slots=True)
class ApiTokens:
    access_token: str
    refresh_token: str
    expires_in: int  # seconds the access token lives
    user_id: uuid.UUID


def _api_refusal(user: User) -> ApiTokenError | None:
    if not user.is_active:
        return ApiTokenError("account_disabled", "This account is banned, blocked or deleted.")
    if not user.email_verified:
        return ApiTokenError("email_not_verified", "Confirm your email address first.")
    if not user.approved_affiliate:
        return ApiTokenError("not_approved", "Your affiliate application is not approved yet.")
    return None


def _issue_api_tokens(*, user: User, family_id: uuid.UUID, device_info: str | None) -> ApiTokens:
    from django.core import signing

    raw = REFRESH_PREFIX + tokens.new_raw_token()
    RefreshToken.objects.create(
        token=tokens.hex_digest(raw),
        user=user,
        expires_at=_now() + REFRESH_TOKEN_VALIDITY,
        device_info=(device_info or "")[:255] or None,
        family_id=family_id,
    )
    access = signing.dumps({"u": str(user.pk), "f": str(family_id)}, salt=_ACCESS_SALT)
    return ApiTokens(
        access_token=access,
        refresh_token=raw,
        expires_in=int(ACCESS_TOKEN_VALIDITY.total_seconds()),
        user_id=user.pk,
    )


def issue_api_tokens(*, request, email: str, password: str, device_info: str | None) -> ApiTokens:  # type: ignore[no-untyped-def]
    """Log in for the API through django.contrib.auth (django-axes counts failures).

    Raises ApiTokenError: invalid_credentials, locked_out, account_disabled,
    email_not_verified or not_approved (the last three only after a correct password)."""
    from uuid_utils.compat import uuid7

    email = (email or "").strip().lower()
    bad = ApiTokenError("invalid_credentials", "Invalid email or password.")
    if not email or not password or "\x00" in email or "\x00" in password:
        raise bad
    if device_info is not None and "\x00" in device_info:
        raise ApiTokenError("invalid", "device_info contains a NUL character.")
    user = authenticate(request=request, email=email, password=password)
    if getattr(request, "axes_locked_out", False):
        raise ApiTokenError("locked_out", "Too many failed attempts; try again later.")
    if user is None:
        candidate = get_user_by_email(email=email)
        if candidate is not None and not candidate.is_active and candidate.check_password(password):
            raise _api_refusal(candidate)  # type: ignore[misc]
        raise bad
    refusal = _api_refusal(user)
    if refusal is not None:
        raise refusal
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(
            logins_count=F("logins_count") + 1, last_login=_now()
        )
        issued = _issue_api_tokens(user=user, family_id=uuid7(), device_info=device_info)
    from axes.utils import reset as axes_reset

    axes_reset(username=email)
    return issued


def _revoke_family(family_id: uuid.UUID) -> int:
    return RefreshToken.objects.filter(family_id=family_id, revoked=False).update(
        revoked=True, updated_at=_now()
    )


def rotate_refresh_token(*, token: str, device_info: str | None = None) -> ApiTokens:
    """Trade a live refresh token for new tokens; the old one is revoked.

    Presenting a revoked token again (reuse: it was stolen, or replayed) revokes every token of
    its family and raises token_reused. Raises ApiTokenError: invalid_token, token_reused or
    the user's refusal (account_disabled, email_not_verified, not_approved)."""
    invalid = ApiTokenError("invalid_token", "The refresh token is not valid.")
    if not isinstance(token, str) or not token or len(token) > 255 or "\x00" in token:
        raise invalid
    if device_info is not None and "\x00" in device_info:
        raise ApiTokenError("invalid", "device_info contains a NUL character.")
    row = RefreshToken.objects.select_related("user").filter(token=tokens.hex_digest(token)).first()
    if row is None:
        raise invalid
    reused = ApiTokenError(
        "token_reused",
        "This refresh token was already used; every token of this log-in is revoked.",
    )
    if row.revoked:
        _revoke_family(row.family_id)
        raise reused
    now = _now()
    if row.expires_at <= now:
        raise ApiTokenError("invalid_token", "The refresh token has expired; log in again.")
    refusal = _api_refusal(row.user)
    if refusal is not None:
        _revoke_family(row.family_id)
        raise refusal
    with transaction.atomic():
        won = RefreshToken.objects.filter(pk=row.pk, revoked=False).update(
            revoked=True, last_used_at=now, updated_at=now
        )
        issued = (
            _issue_api_tokens(
                user=row.user, family_id=row.family_id, device_info=device_info or row.device_info
            )
            if won
            else None
        )
    if issued is None:  # a concurrent refresh with the same token won: that is reuse too
        _revoke_family(row.family_id)
        raise reused
    return issued


def revoke_refresh_token(*, token: str) -> bool:
    """Log an API client out: revoke the token's whole family (its access tokens stop too).

    True when the token was known (revoking twice is harmless)."""
    if not isinstance(token, str) or not token or len(token) > 255 or "\x00" in token:
        return False
    row = RefreshToken.objects.filter(token=tokens.hex_digest(token)).first()
    if row is None:
        return False
    _revoke_family(row.family_id)
    return True


def get_user_by_access_token(*, token: str) -> User | None:
    """The user of a valid access token: signed, younger than 15 minutes, its family not
    revoked, and the user still active, verified and approved. None otherwise."""
    from django.core import signing

    if not isinstance(token, str) or not token or len(token) > 512 or "\x00" in token:
        return None
    try:
        claims = signing.loads(
            token, salt=_ACCESS_SALT, max_age=ACCESS_TOKEN_VALIDITY.total_seconds()
        )
        user_id, family_id = uuid.UUID(claims["u"]), uuid.UUID(claims["f"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    live_family = RefreshToken.objects.filter(
        family_id=family_id, user_id=user_id, revoked=False
    ).exists()
    if not live_family:
        return None
    user = User.objects.filter(pk=user_id).first()
    if user is None or _api_refusal(user) is not None:
        return None
    return user
