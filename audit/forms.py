from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.utils import timezone

from audit.selectors import KIND_CHOICES, AuditFilters


class AuditFilterForm(forms.Form):
    kind = forms.ChoiceField(choices=[("", "Everything"), *KIND_CHOICES], required=False)
    actor = forms.CharField(max_length=200, required=False, help_text="An email, “API key”, or “command”.")
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="From")
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="To")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("since") and data.get("until") and data["until"] < data["since"]:
            raise forms.ValidationError("“To” is before “From”.")
        return data

    def filters(self) -> AuditFilters:
        data = self.cleaned_data

        def start_of(day: Any) -> datetime | None:
            return timezone.make_aware(datetime.combine(day, time.min)) if day else None

        until = start_of(data["until"] + timedelta(days=1)) if data.get("until") else None
        return AuditFilters(
            kind=data["kind"], actor=data["actor"].strip(), since=start_of(data.get("since")), until=until
        )


class EraseConfirmForm(forms.Form):
    confirm = forms.CharField(
        max_length=254, label="Type the contact's email (or, without one, their full name) to confirm"
    )

    def __init__(self, *args: Any, expected: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.expected = expected

    def clean_confirm(self) -> str:
        value = self.cleaned_data["confirm"].strip()
        if value.lower() != self.expected.strip().lower():
            raise forms.ValidationError("That does not match this contact: nothing was erased.")
        return value
