"""The seed's `users`, `users_tokens` and `refresh_tokens` tables, column for column.

Private to the accounts context: other contexts go through `kangrow.accounts.api`.
Django requires `password` (kept in the seed's `hashed_password` column), `is_staff` and
`is_superuser` (staff access to /admin); everything else is the seed's.
"""

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models import Q
from django.utils import timezone
from uuid_utils.compat import uuid7

from kangrow.core.fields import CIEmailField
from kangrow.core.models import UUIDv7Model


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_by_natural_key(self, username: str | None) -> "User":
        return self.get(email=username)

    def create_user(self, email: str, password: str | None = None, **extra: object) -> "User":
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email), **extra)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> "User":
        now = timezone.now()
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        extra.setdefault("email_verified", True)
        extra.setdefault("verified", True)
        extra.setdefault("confirmed_at", now)
        return self.create_user(email, password, **extra)


class User(UUIDv7Model, AbstractBaseUser, PermissionsMixin):
    """A person: an affiliate (after confirmation and approval) or a staff member.

    The seed's `users` table. Banned, blocked and soft-deleted users are inactive.
    """

    email = CIEmailField(
        max_length=255,
        unique=True,
        help_text="Login address; unique case-insensitively (citext on PostgreSQL).",
    )
    email_verified = models.BooleanField(
        default=False,
        help_text=(
            "True once the person clicked a confirmation (or magic) link sent to this address."
        ),
    )
    first_name = models.CharField(  # noqa: DJ001
        max_length=255,
        null=True,
        blank=True,
        help_text="Given name shown in the portal; optional.",
    )
    last_name = models.CharField(  # noqa: DJ001
        max_length=255,
        null=True,
        blank=True,
        help_text="Family name shown in the portal; optional.",
    )
    password = models.CharField(  # noqa: DJ001
        max_length=255,
        db_column="hashed_password",
        null=True,
        help_text=(
            "Argon2 hash of the password (Django's `password`, stored in the seed's "
            "`hashed_password` column); unusable when the account has no password."
        ),
    )
    identities = models.JSONField(
        null=True,
        blank=True,
        help_text="Reserved for future social logins: provider -> identity details (JSON).",
    )
    avatar_url = models.URLField(  # noqa: DJ001
        max_length=255,
        null=True,
        blank=True,
        help_text="URL of the profile picture; optional.",
    )
    last_login = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the user last logged in (password or magic link).",
    )
    last_ip = models.CharField(  # noqa: DJ001
        max_length=255,
        null=True,
        blank=True,
        help_text="Client IP address (REMOTE_ADDR) of the last login.",
    )
    last_password_reset = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the password was last reset through the reset-password email.",
    )
    logins_count = models.IntegerField(
        default=0,
        help_text="Number of successful logins, incremented atomically on each login.",
    )
    approved_affiliate = models.BooleanField(
        default=False,
        help_text="Set by an admin: the affiliate may join campaigns and use the dashboard.",
    )
    verified = models.BooleanField(
        default=False,
        help_text="The email address has been confirmed (kept in step with email_verified).",
    )
    banned = models.BooleanField(
        default=False,
        help_text="Banned by an admin: cannot log in; sessions and refresh tokens were revoked.",
    )
    blocked = models.BooleanField(
        default=False,
        help_text="Blocked by an admin: cannot log in; sessions and refresh tokens were revoked.",
    )
    reset_password_token = models.CharField(  # noqa: DJ001
        max_length=255,
        null=True,
        blank=True,
        help_text="SHA-256 hex digest of the outstanding password-reset token; cleared when used.",
    )
    reset_password_sent_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the outstanding password-reset email was sent (the token is valid 1 day).",
    )
    confirmed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the email address was confirmed.",
    )
    deleted_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=(
            "Soft delete: set when the account is deleted; the user is gone for every purpose but "
            "the ledger."
        ),
    )
    # Not in the seed: Django's staff flag, and the outcome of a rejected application.
    is_staff = models.BooleanField(
        default=False,
        help_text=(
            "Not in the seed: Django's staff flag, grants access to /admin (with a second factor)."
        ),
    )
    rejected_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Not in the seed: when an admin rejected the affiliate application.",
    )
    rejection_reason = models.TextField(
        blank=True,
        default="",
        help_text=(
            "Not in the seed: the reason given to the affiliate when the application was rejected."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True, help_text="When the account was created.")
    updated_at = models.DateTimeField(auto_now=True, help_text="When the row last changed.")

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        db_table = "users"
        indexes = [
            models.Index(fields=["banned"], name="users_banned_index"),
            models.Index(
                fields=["reset_password_token"],
                name="users_reset_pw_token_idx",
                condition=Q(reset_password_sent_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        """Banned, blocked and soft-deleted users cannot authenticate or keep a session."""
        return not (self.banned or self.blocked or self.deleted_at is not None)

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)


class UserToken(UUIDv7Model):
    """Session, magic-link, confirmation and change-email tokens, stored as SHA-256 digests."""

    user = models.ForeignKey(
        User,
        on_delete=models.CASCADE,
        related_name="tokens",
        help_text="The user this token belongs to.",
    )
    token = models.BinaryField(
        help_text=(
            "SHA-256 digest of the raw token handed to the person (the raw token is never stored)."
        ),
    )
    context = models.CharField(
        max_length=255,
        help_text=(
            'What the token is for: "session", "login" (magic link), "confirm", '
            'or "change:<current email>".'
        ),
    )
    sent_to = models.CharField(  # noqa: DJ001
        max_length=255,
        null=True,
        blank=True,
        help_text=(
            "Email address the token was sent to; the token is only valid while the user's email "
            "still equals it."
        ),
    )
    authenticated_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=(
            "Session tokens: when the user last authenticated (password or magic link); drives "
            "sudo mode."
        ),
    )
    created_at = models.DateTimeField(
        auto_now_add=True,
        help_text="When the token was issued; validity windows count from here.",
    )

    class Meta:
        db_table = "users_tokens"
        constraints = [
            models.UniqueConstraint(
                fields=["context", "token"], name="users_tokens_context_token_index"
            )
        ]


class RefreshToken(UUIDv7Model):
    """API refresh tokens (stored as SHA-256 hex digests). A family links rotations."""

    token = models.CharField(
        max_length=255,
        unique=True,
        help_text="SHA-256 hex digest of the refresh token handed to the API client.",
    )
    user = models.ForeignKey(
        User,
        on_delete=models.CASCADE,
        related_name="refresh_tokens",
        help_text="The user this refresh token belongs to.",
    )
    expires_at = models.DateTimeField(
        help_text="After this moment the refresh token no longer works.",
    )
    revoked = models.BooleanField(
        default=False,
        help_text=(
            "True once rotated, revoked by the client, or revoked by a ban, block, delete or "
            "password reset."
        ),
    )
    device_info = models.CharField(  # noqa: DJ001
        max_length=255,
        null=True,
        blank=True,
        help_text="Optional description of the device or client that obtained the token.",
    )
    last_used_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the token was last used to refresh.",
    )
    # Not in the seed: every rotation of one login shares a family, so reuse revokes them all.
    family_id = models.UUIDField(
        default=uuid7,
        db_index=True,
        help_text=(
            "Not in the seed: shared by every rotation of one login, so reuse of a revoked token "
            "revokes the whole family (UUIDv7)."
        ),
    )
    created_at = models.DateTimeField(
        auto_now_add=True,
        help_text="When the token was issued.",
    )
    updated_at = models.DateTimeField(
        auto_now=True,
        help_text="When the row last changed.",
    )

    class Meta:
        db_table = "refresh_tokens"
        indexes = [
            models.Index(fields=["expires_at"], name="refresh_tokens_expires_idx"),
            models.Index(fields=["user", "revoked"], name="refresh_tokens_user_rev_idx"),
        ]
