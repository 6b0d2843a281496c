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
    email = CIEmailField(max_length=255, unique=True)
    email_verified = models.BooleanField(default=False)
    first_name = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    last_name = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    password = models.CharField(max_length=255, db_column="hashed_password", null=True)  # noqa: DJ001
    identities = models.JSONField(null=True, blank=True)
    avatar_url = models.URLField(max_length=255, null=True, blank=True)  # noqa: DJ001
    last_login = models.DateTimeField(null=True, blank=True)
    last_ip = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    last_password_reset = models.DateTimeField(null=True, blank=True)
    logins_count = models.IntegerField(default=0)
    approved_affiliate = models.BooleanField(default=False)
    verified = models.BooleanField(default=False)
    banned = models.BooleanField(default=False)
    blocked = models.BooleanField(default=False)
    reset_password_token = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    reset_password_sent_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    # Not in the seed: Django's staff flag, and the outcome of a rejected application.
    is_staff = models.BooleanField(default=False)
    rejected_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

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

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="tokens")
    token = models.BinaryField()
    context = models.CharField(max_length=255)
    sent_to = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    authenticated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "users_tokens"
        constraints = [
            models.UniqueConstraint(fields=["context", "token"], name="users_tokens_context_token_index")
        ]


class RefreshToken(UUIDv7Model):
    """API refresh tokens (stored as SHA-256 hex digests). A family links rotations."""

    token = models.CharField(max_length=255, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="refresh_tokens")
    expires_at = models.DateTimeField()
    revoked = models.BooleanField(default=False)
    device_info = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    last_used_at = models.DateTimeField(null=True, blank=True)
    # Not in the seed: every rotation of one login shares a family, so reuse revokes them all.
    family_id = models.UUIDField(default=uuid7, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "refresh_tokens"
        indexes = [
            models.Index(fields=["expires_at"], name="refresh_tokens_expires_idx"),
            models.Index(fields=["user", "revoked"], name="refresh_tokens_user_rev_idx"),
        ]
