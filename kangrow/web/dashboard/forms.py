"""Dashboard and notification forms: parse and validate query strings and posts."""

from __future__ import annotations

from datetime import date, timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from kangrow.core.text import reject_nul
from kangrow.reports.api import MAX_DAYS

PERIODS = [
    ("7", "Last 7 days"),
    ("30", "Last 30 days"),
    ("90", "Last 90 days"),
    ("custom", "Custom"),
]


class PeriodForm(forms.Form):
    """?period=7|30|90|custom&from=YYYY-MM-DD&to=YYYY-MM-DD&campaign=<uuid>."""

    period = forms.ChoiceField(label="Period", choices=PERIODS, required=False)
    start = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    campaign = forms.UUIDField(
        label="Campaign",
        required=False,
        error_messages={"invalid": "Choose one of your campaigns."},
    )

    def __init__(self, data, **kwargs):  # type: ignore[no-untyped-def]
        data = data.copy()
        # the query string uses from/to, the form fields start/end ("from" is a Python keyword)
        for outside, inside in (("from", "start"), ("to", "end")):
            if outside in data and inside not in data:
                data[inside] = data[outside]
        super().__init__(data, **kwargs)
        self.fields["start"].widget.attrs["max"] = self.fields["end"].widget.attrs["max"] = (
            timezone.localdate().isoformat()
        )

    def clean(self):  # type: ignore[no-untyped-def]
        cleaned = super().clean()
        for value in self.data.values():
            try:
                reject_nul(value)
            except ValidationError as exc:
                raise ValidationError(exc.messages) from None
        today = timezone.localdate()
        period = cleaned.get("period") or ("custom" if cleaned.get("start") else "30")
        cleaned["period"] = period
        if period == "custom":
            start, end = cleaned.get("start"), cleaned.get("end") or today
            if start is None:
                self.add_error("start", "Choose the first day of the period.")
                return cleaned
            if start > end:
                self.add_error("start", "The first day must not be after the last day.")
                return cleaned
            if (end - start).days + 1 > MAX_DAYS:
                self.add_error("end", f"A period is at most {MAX_DAYS} days.")
                return cleaned
        else:
            end = today
            start = today - timedelta(days=int(period) - 1)
        cleaned["start"], cleaned["end"] = start, end
        return cleaned

    @property
    def window(self) -> tuple[date, date]:
        return self.cleaned_data["start"], self.cleaned_data["end"]


class PreferencesForm(forms.Form):
    """One checkbox per notification kind a user may receive by email."""

    def __init__(self, *args, preferences, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        for pref in preferences:
            self.fields[pref.kind] = forms.BooleanField(
                label=pref.label,
                help_text=pref.help,
                required=False,
                initial=getattr(pref, "email_enabled", getattr(pref, "default", True)),
            )
