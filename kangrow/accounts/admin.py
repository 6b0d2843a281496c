"""Users in /admin: the seed's columns, approval, rejection (with a reason), ban and block.

Approval state, bans and blocks change only through the actions below, which call
`kangrow.accounts.api` (that sends the emails and revokes sessions); the change form shows those
columns read-only. Token digests and the password hash are never shown.

Registered with plain `@admin.register`: the default site is KanGrow's TOTP-secured
AdminSite (kangrow.web.admin.site), and contexts do not import the web layer.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.forms import AdminUserCreationForm
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from kangrow.core.text import reject_nul

from . import api
from .models import RefreshToken, User, UserToken

REJECTION_REASON_MAX = 2000


class UserCreationForm(AdminUserCreationForm):
    """Add a user by email, with a password or none (they can use a magic link)."""

    class Meta:
        model = User
        fields = ("email",)

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        reject_nul(email)
        return email


class DeletedFilter(admin.SimpleListFilter):
    title = "deleted"
    parameter_name = "deleted"

    def lookups(self, request, model_admin):  # type: ignore[no-untyped-def]
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):  # type: ignore[no-untyped-def]
        if self.value() == "yes":
            return queryset.filter(deleted_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(deleted_at__isnull=True)
        return queryset


class RejectionForm(forms.Form):
    reason = forms.CharField(
        label="Reason (sent to each affiliate)",
        max_length=REJECTION_REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        error_messages={"required": "Give the reason: it is sent to the affiliate."},
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        reject_nul(reason)
        if not reason:
            raise forms.ValidationError("Give the reason: it is sent to the affiliate.")
        return reason


def _outcome(verb: str, done: int, selected: int) -> str:
    skipped = selected - done
    text = f"{verb} {done} affiliate(s); each was emailed."
    if skipped:
        text += f" {skipped} skipped: only verified, active, not yet approved affiliates qualify."
    return text


def _ids(queryset: QuerySet[User]) -> list:
    return list(queryset.order_by("id").values_list("id", flat=True))


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    add_form = UserCreationForm
    list_display = [
        "email",
        "name",
        "email_verified",
        "verified",
        "approved_affiliate",
        "banned",
        "blocked",
        "logins_count",
        "last_login",
        "created_at",
    ]
    list_filter = [
        "verified",
        "email_verified",
        "approved_affiliate",
        "banned",
        "blocked",
        "is_staff",
        DeletedFilter,
    ]
    search_fields = ["email", "first_name", "last_name"]
    ordering = ["-created_at"]
    list_per_page = 50
    actions = [
        "approve_affiliates",
        "reject_affiliates",
        "ban_users",
        "unban_users",
        "block_users",
        "unblock_users",
    ]
    readonly_fields = [
        "id",
        "email_verified",
        "verified",
        "confirmed_at",
        "approved_affiliate",
        "rejected_at",
        "rejection_reason",
        "banned",
        "blocked",
        "deleted_at",
        "last_login",
        "last_ip",
        "logins_count",
        "last_password_reset",
        "reset_password_sent_at",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["id", "email", "first_name", "last_name", "avatar_url"]}),
        (
            "Verification and approval",
            {
                "fields": [
                    "email_verified",
                    "verified",
                    "confirmed_at",
                    "approved_affiliate",
                    "rejected_at",
                    "rejection_reason",
                ],
                "description": "Change these with the actions on the users list.",
            },
        ),
        ("Access", {"fields": ["banned", "blocked", "deleted_at"]}),
        ("Staff", {"fields": ["is_staff", "is_superuser", "groups", "user_permissions"]}),
        (
            "Activity",
            {
                "fields": [
                    "last_login",
                    "last_ip",
                    "logins_count",
                    "last_password_reset",
                    "reset_password_sent_at",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
    ]
    add_fieldsets = [
        (None, {"fields": ["email", "usable_password", "password1", "password2"]}),
    ]
    filter_horizontal = ["groups", "user_permissions"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        """Users are soft-deleted (`deleted_at`): the ledger keeps pointing at them."""
        return False

    @admin.display(description="name", ordering="last_name")
    def name(self, obj: User) -> str:
        return obj.full_name

    def get_fieldsets(self, request, obj=None):  # type: ignore[no-untyped-def]
        return self.add_fieldsets if obj is None else super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        return [] if obj is None else super().get_readonly_fields(request, obj)

    def get_form(self, request, obj=None, change=False, **kwargs):  # type: ignore[no-untyped-def]
        if obj is None:
            kwargs["form"] = self.add_form
            kwargs["fields"] = None  # the creation form declares its own fields
        return super().get_form(request, obj, change=change, **kwargs)

    # Actions ---------------------------------------------------------------------------------

    @admin.action(description="Approve selected affiliates")
    def approve_affiliates(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        ids = _ids(queryset)
        approved = api.approve_affiliates(user_ids=ids)
        self.message_user(request, _outcome("Approved", approved, len(ids)), messages.SUCCESS)

    @admin.action(description="Reject selected affiliates")
    def reject_affiliates(
        self, request: HttpRequest, queryset: QuerySet[User]
    ) -> HttpResponse | None:
        ids = _ids(queryset)
        form = RejectionForm(request.POST if "reject_confirmed" in request.POST else None)
        if form.is_bound and form.is_valid():
            try:
                rejected = api.reject_affiliates(user_ids=ids, reason=form.cleaned_data["reason"])
            except ValidationError as error:
                form.add_error("reason", "; ".join(error.messages))
            else:
                self.message_user(
                    request, _outcome("Rejected", rejected, len(ids)), messages.SUCCESS
                )
                return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Reject affiliates",
            "opts": self.model._meta,
            "users": queryset.order_by("email"),
            "form": form,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "selected_ids": [str(i) for i in ids],
        }
        return TemplateResponse(request, "admin/accounts/user/reject_affiliates.html", context)

    def _per_user(self, request: HttpRequest, queryset: QuerySet[User], func, verb: str) -> None:  # type: ignore[no-untyped-def]
        ids = _ids(queryset)
        changed = sum(1 for user_id in ids if func(user_id=user_id))
        self.message_user(request, f"{verb} {changed} user(s).", messages.SUCCESS)

    @admin.action(description="Ban selected users")
    def ban_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._per_user(request, queryset, api.ban_user, "Banned")

    @admin.action(description="Unban selected users")
    def unban_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._per_user(request, queryset, api.unban_user, "Unbanned")

    @admin.action(description="Block selected users")
    def block_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._per_user(request, queryset, api.block_user, "Blocked")

    @admin.action(description="Unblock selected users")
    def unblock_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._per_user(request, queryset, api.unblock_user, "Unblocked")


class _ReadOnlyTokenAdmin(admin.ModelAdmin):
    """Token rows for support: who, what for, when. The digests themselves are never shown."""

    list_select_related = ["user"]
    search_fields = ["user__email"]
    raw_id_fields = ["user"]

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(UserToken)
class UserTokenAdmin(_ReadOnlyTokenAdmin):
    """Deleting a session row logs that browser out at its next request."""

    list_display = ["user", "context", "sent_to", "authenticated_at", "created_at"]
    list_filter = ["context"]
    fields = ["user", "context", "sent_to", "authenticated_at", "created_at"]
    readonly_fields = fields
    ordering = ["-created_at"]


@admin.register(RefreshToken)
class RefreshTokenAdmin(_ReadOnlyTokenAdmin):
    """API refresh tokens; ban, block or "log out everywhere" revoke them."""

    list_display = ["user", "device_info", "revoked", "expires_at", "last_used_at", "created_at"]
    list_filter = ["revoked"]
    fields = [
        "user",
        "family_id",
        "device_info",
        "revoked",
        "expires_at",
        "last_used_at",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields
    ordering = ["-created_at"]

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
