"""Forms of the weekly call: a call (own or an adjustment), the period picker, and the due day."""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms

from forecasting.calls import WEEKDAYS
from tenancy.models import Membership
from tenancy.scope import Scope
from vectoros.forms import UUIDChoiceField, limit_choices


def _money(label: str, *, required: bool = True) -> forms.DecimalField:
    return forms.DecimalField(label=label, required=required, min_value=0, max_digits=16, decimal_places=2)


class CallForm(forms.Form):
    """A call for the period; with `member` it adjusts that person's call (a reason is then required)."""

    member = UUIDChoiceField(Membership.objects.none(), required=False, empty_label="My own call")
    commit = _money("Commit")
    best_case = _money("Best case")
    most_likely = _money("Most likely (optional)", required=False)
    reason = forms.CharField(required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 2}))
    period_start = forms.DateField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, scope: Scope, adjustable: list[Membership] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Any member in sight is accepted here; whether the asker may adjust them is the service's call (403).
        limit_choices(self, "member", scope.reps())
        field = self.fields["member"]
        assert isinstance(field, UUIDChoiceField)
        field.widget.choices = [("", "My own call"), *((m.uuid, m.display_name) for m in adjustable or [])]


class PeriodForm(forms.Form):
    """Which period the page shows: the one that contains `on` (today by default)."""

    on = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="Period containing")

    def day(self, default: date) -> date:
        if self.is_bound and self.is_valid() and self.cleaned_data.get("on"):
            return self.cleaned_data["on"]  # type: ignore[no-any-return]
        return default


class CallSettingsForm(forms.Form):
    due_weekday = forms.TypedChoiceField(choices=list(enumerate(WEEKDAYS)), coerce=int, label="Due on")
    due_time = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time"}), label="at")
