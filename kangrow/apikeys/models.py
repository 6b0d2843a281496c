"""API keys for apps (report signups, check coupons) and for staff scripts (scoped).

Private to the apikeys context: other parts go through `kangrow.apikeys.api`.
"""

from django.db import models
from django.db.models import Q

from kangrow.core.models import UUIDv7Model


class ApiKey(UUIDv7Model):
    """A bearer key for the JSON API. The raw key is shown once; only its SHA-256 is kept."""

    class Kind(models.TextChoices):
        APP = "app", "App"
        STAFF = "staff", "Staff"

    name = models.CharField(
        max_length=120, help_text="What the key is for, chosen by the staff member who made it."
    )
    kind = models.CharField(
        max_length=10,
        choices=Kind.choices,
        help_text='"app": an app reporting signups and checking coupons; "staff": provisioning.',
    )
    app_id = models.UUIDField(
        null=True,
        blank=True,
        db_index=True,
        help_text="App keys: the programs app (apps.id) the key acts for; empty for staff keys.",
    )
    scopes = models.JSONField(
        default=list,
        blank=True,
        help_text='Staff keys: the list of scopes granted, e.g. ["apps:write", "events:read"].',
    )
    prefix = models.CharField(
        max_length=24,
        help_text="The first characters of the key (e.g. kg_app_Ab12Cd), shown to recognise it.",
    )
    key_hash = models.CharField(
        max_length=64,
        unique=True,
        help_text="SHA-256 hex digest of the full key; the key itself is never stored.",
    )
    created_at = models.DateTimeField(auto_now_add=True, help_text="When the key was created.")
    last_used_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the key last authenticated a request (recorded at most once a minute).",
    )
    revoked_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the key was revoked; a revoked key authenticates nothing.",
    )

    class Meta:
        db_table = "api_keys"
        verbose_name = "API key"
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="app") & Q(app_id__isnull=False))
                | (Q(kind="staff") & Q(app_id__isnull=True)),
                name="api_keys_app_id_matches_kind",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
