"""The focus panel's filter: a team or an owner (a rep), only among those in the member's sight."""

from __future__ import annotations

from typing import Any

from django import forms

from tenancy.models import Membership, Team
from tenancy.scope import Scope
from vectoros.forms import UUIDChoiceField, limit_choices


class FocusFilterForm(forms.Form):
    """`?owner=<member uuid>` (a rep's home) or `?team=<team uuid>` (the dashboard's); neither: the member's own."""

    team = UUIDChoiceField(queryset=Team.objects.none(), required=False)
    owner = UUIDChoiceField(queryset=Membership.objects.none(), required=False)

    def __init__(self, *args: Any, scope: Scope, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limit_choices(self, "team", scope.teams(), empty_label="All teams")
        limit_choices(self, "owner", scope.reps(), empty_label="All reps")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("team") and data.get("owner"):
            raise forms.ValidationError("Choose a team or an owner, not both.")
        return data
