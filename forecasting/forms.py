from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django import forms

from tenancy.models import Membership, Team
from tenancy.scope import Scope
from vectoros.forms import UUIDChoiceField, limit_choices


class DashboardFilterForm(forms.Form):
    """The dashboard's team or rep: only those in the member's scope (another team's id is a field error)."""

    team = UUIDChoiceField(queryset=Team.objects.none(), required=False)
    rep = UUIDChoiceField(queryset=Membership.objects.none(), required=False)

    def __init__(self, *args: Any, scope: Scope, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limit_choices(self, "team", scope.teams(), empty_label="All teams")
        limit_choices(self, "rep", scope.reps(), empty_label="All reps")

    def chosen(self) -> tuple[Team | None, Membership | None]:
        """The team and rep asked for, or (None, None) when none was or one is out of sight (the member's own
        view is then shown, and the form carries the error)."""
        if self.is_bound and self.is_valid():
            return self.cleaned_data["team"], self.cleaned_data["rep"]
        return None, None


_DAY = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")  # what <input type=date> reads


class ChangesForm(DashboardFilterForm):
    """What changed: a window (default: the last seven days), the deals it follows, and a bar to list."""

    PERIODS = (("all", "All open deals"), ("this", "Closing this quarter"), ("next", "Closing next quarter"))

    start = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    end = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    deals = forms.ChoiceField(choices=PERIODS, required=False, label="Deals")
    flow = forms.ChoiceField(choices=[("", "")], required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, scope: Scope, flows: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, scope=scope, **kwargs)
        flow = self.fields["flow"]
        assert isinstance(flow, forms.ChoiceField)
        flow.choices = [("", ""), *flows.items()]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end and end < start:
            raise forms.ValidationError("“To” is before “From”.")
        return data


class TargetForm(forms.Form):
    """A target for the workspace, a team or a rep; whether this member may set it is `Scope.can_set_target`."""

    amount = forms.DecimalField(min_value=0, max_digits=16, decimal_places=2)
    team = UUIDChoiceField(queryset=Team.objects.none(), required=False)
    rep = UUIDChoiceField(queryset=Membership.objects.none(), required=False)

    def __init__(self, *args: Any, scope: Scope, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Any team or rep of the workspace is accepted, so that one outside the member's reach is refused
        # by the scope with a 403; the choices offered are only those the member may set.
        for name, queryset, offered, empty in (
            ("team", Team.objects.filter(workspace=scope.workspace), scope.target_teams(), "No team"),
            ("rep", Membership.objects.for_workspace(scope.workspace), scope.target_reps(), "No rep"),
        ):
            field = self.fields[name]
            assert isinstance(field, forms.ModelChoiceField)
            field.queryset = queryset
            field.widget.choices = [("", empty), *((o.uuid, str(o)) for o in offered)]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("team") and data.get("rep"):
            raise forms.ValidationError("Set a target for one team or one rep, not both.")
        return data


class DealIdsInput(forms.Widget):
    """Deal ids from every box ticked under this name (the search's picks) and any comma-separated text."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> str:
        values = data.getlist(name) if hasattr(data, "getlist") else [data.get(name) or ""]
        return ",".join(v for v in values if v)


class WhatIfForm(forms.Form):
    exclude = forms.CharField(required=False, widget=DealIdsInput, help_text="Deals to leave out")
    slip = forms.CharField(required=False, widget=DealIdsInput, help_text="Deals to slip")
    slip_days = forms.IntegerField(required=False, min_value=0, max_value=365, initial=30)
    win_rate_scale = forms.FloatField(required=False, min_value=0.1, max_value=3.0, initial=1.0)
    add_reps = forms.IntegerField(required=False, min_value=0, max_value=100, initial=0)
    ramp_days = forms.IntegerField(required=False, min_value=1, max_value=365, initial=90)

    def picked(self) -> dict[str, list[str]]:
        """The well-formed deal ids asked for, by field, to show them ticked again beside the result."""
        out: dict[str, list[str]] = {}
        for name in ("exclude", "slip"):
            raw = self.data.getlist(name) if hasattr(self.data, "getlist") else []
            ids = []
            for part in ",".join(raw).replace("\n", ",").split(","):
                try:
                    ids.append(str(uuid.UUID(part.strip())))
                except ValueError:
                    continue
            out[name] = ids
        return out

    @staticmethod
    def _uuids(text: str) -> list[str]:
        out = []
        for part in (text or "").replace("\n", ",").split(","):
            part = part.strip()
            if part:
                try:
                    out.append(str(uuid.UUID(part)))
                except ValueError:
                    raise forms.ValidationError(f"“{part}” is not a deal id.") from None
        return out

    def clean_exclude(self) -> list[str]:
        return self._uuids(self.cleaned_data.get("exclude", ""))

    def clean_slip(self) -> list[str]:
        return self._uuids(self.cleaned_data.get("slip", ""))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("slip") and data.get("slip_days") == 0:
            self.add_error("slip_days", "Slip the chosen deals by at least one day.")
        changes = (
            data.get("exclude"),
            data.get("slip"),
            (data.get("win_rate_scale") or 1.0) != 1.0,
            data.get("add_reps"),
        )
        if not self.errors and not any(changes):
            raise forms.ValidationError(
                "Nothing to compare: pick deals to leave out or slip, or change the win rate or the number of reps."
            )
        return data


class CurrencyRateForm(forms.Form):
    currency = forms.CharField(max_length=10, help_text="Three-letter code, e.g. EUR")
    rate = forms.DecimalField(
        min_value=Decimal("0.00000001"), max_digits=18, decimal_places=8, help_text="Worth of one unit in ours"
    )
