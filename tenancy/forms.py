"""Forms for the workspace settings pages."""

from __future__ import annotations

import calendar
import zoneinfo
from typing import Any

from django import forms

from tenancy.models import Membership, Role, Team, Workspace
from vectoros.forms import UUIDChoiceField, limit_choices

MONTHS = [(i, calendar.month_name[i]) for i in range(1, 13)]
_ZONES = sorted(zoneinfo.available_timezones())


class WorkspaceSettingsForm(forms.Form):
    name = forms.CharField(max_length=120)
    currency = forms.RegexField(
        regex=r"^[A-Za-z]{3}$",
        max_length=3,
        help_text="Three-letter ISO code, e.g. USD, EUR, GBP.",
        error_messages={"invalid": "Use a three-letter currency code such as USD or EUR."},
    )
    fiscal_year_start_month = forms.TypedChoiceField(choices=MONTHS, coerce=int, label="Fiscal year starts in")
    time_zone = forms.ChoiceField(choices=[(z, z) for z in _ZONES])


class MemberForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
    team = UUIDChoiceField(Team.objects.none(), required=False, empty_label="No team")

    def __init__(self, *args: Any, workspace: Workspace, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limit_choices(self, "team", Team.objects.filter(workspace=workspace))


class TeamForm(forms.Form):
    name = forms.CharField(max_length=120)
    manager = UUIDChoiceField(Membership.objects.none(), required=False, empty_label="No manager")
    parent = UUIDChoiceField(Team.objects.none(), required=False, empty_label="Top level", label="Part of")

    def __init__(self, *args: Any, workspace: Workspace, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limit_choices(self, "manager", Membership.objects.for_workspace(workspace).active())
        limit_choices(self, "parent", Team.objects.filter(workspace=workspace))


class InvitationForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField(choices=Role.choices, initial=Role.REP)
    team = UUIDChoiceField(Team.objects.none(), required=False, empty_label="No team")

    def __init__(self, *args: Any, workspace: Workspace, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limit_choices(self, "team", Team.objects.filter(workspace=workspace))
