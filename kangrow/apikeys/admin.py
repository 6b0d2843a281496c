"""API keys in /admin: create a key (the raw key is shown once, on the next page) and revoke."""

from uuid import UUID

from django import forms
from django.contrib import admin, messages

from kangrow.programs import api as programs_api

from . import api
from .models import ApiKey


class ApiKeyCreateForm(forms.ModelForm):
    app = forms.ChoiceField(required=False, help_text="App keys only: the app the key acts for.")
    scope_list = forms.MultipleChoiceField(
        label="Scopes",
        required=False,
        choices=[(s, s) for s in api.SCOPES],
        widget=forms.CheckboxSelectMultiple,
        help_text="Staff keys only.",
    )

    class Meta:
        model = ApiKey
        fields = ["name", "kind"]

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.fields["app"].choices = [("", "—")] + [
            (str(a.id), f"{a.name} ({a.slug})") for a in programs_api.list_apps()
        ]

    def clean(self):  # type: ignore[no-untyped-def]
        data = super().clean()
        kind, app = data.get("kind"), data.get("app")
        if kind == ApiKey.Kind.APP and not app:
            self.add_error("app", "An app key needs an app.")
        if kind == ApiKey.Kind.STAFF and app:
            self.add_error("app", "Staff keys are not tied to an app.")
        if kind == ApiKey.Kind.APP and data.get("scope_list"):
            self.add_error("scope_list", "App keys take no scopes.")
        return data


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "prefix", "app_id", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["kind", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix"]
    actions = ["revoke"]
    readonly_fields = [
        "name",
        "kind",
        "app_id",
        "scopes",
        "prefix",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]

    def get_form(self, request, obj=None, **kwargs):  # type: ignore[no-untyped-def]
        if obj is None:
            kwargs["form"] = ApiKeyCreateForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        return self.readonly_fields if obj is not None else []

    def get_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        if obj is None:
            return ["name", "kind", "app", "scope_list"]
        return self.readonly_fields

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False  # revoke instead: the row keeps the audit trail

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        if change:
            return
        data = form.cleaned_data
        ref, raw = api.create_api_key(
            kind=data["kind"],
            name=data["name"],
            app_id=UUID(data["app"]) if data.get("app") else None,
            scopes=data.get("scope_list") or [],
        )
        obj.pk = ref.id
        obj.refresh_from_db()
        obj._state.adding = False
        messages.warning(
            request,
            f"Copy this key now; it is not stored and will not be shown again: {raw}",
        )

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):  # type: ignore[no-untyped-def]
        revoked = sum(api.revoke_api_key(key_id=row.id) for row in queryset)
        self.message_user(request, f"Revoked {revoked} key(s).")
