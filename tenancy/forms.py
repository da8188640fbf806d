"""Forms for the workspace settings pages."""

from __future__ import annotations

import calendar
import zoneinfo
from typing import Any

from django import forms

from tenancy.models import ApiKeyScope, Membership, Role, Team, Workspace
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


class NewWorkspaceForm(forms.Form):
    name = forms.CharField(max_length=120, label="Workspace name")


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


class SSOSignInForm(forms.Form):
    email = forms.EmailField(label="Work email", widget=forms.EmailInput(attrs={"autocomplete": "email"}))


class SSOSettingsForm(forms.Form):
    protocol = forms.ChoiceField(choices=[("openid_connect", "OpenID Connect"), ("saml", "SAML 2.0")])
    domains = forms.CharField(
        label="Verified email domains",
        help_text="Comma-separated, e.g. example.com, example.co.uk. People with these emails sign in through SSO.",
    )
    jit_role = forms.ChoiceField(
        label="Role of new members",
        choices=[(r.value, r.label) for r in (Role.MANAGER, Role.REP, Role.VIEWER)],
        initial=Role.REP,
        help_text="Given on a person's first SSO sign-in (just-in-time membership).",
    )
    require_sso = forms.BooleanField(
        label="Require SSO for everyone but owners", required=False, help_text="Their password sign-in is refused."
    )
    issuer = forms.URLField(label="OIDC issuer or discovery URL", required=False, assume_scheme="https")
    client_id = forms.CharField(label="OIDC client id", required=False, max_length=191)
    client_secret = forms.CharField(
        label="OIDC client secret",
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the stored secret.",
    )
    metadata_url = forms.URLField(label="SAML IdP metadata URL", required=False, assume_scheme="https")
    metadata_file = forms.FileField(label="…or SAML IdP metadata XML", required=False)
    entity_id = forms.CharField(
        label="SAML IdP entity id", required=False, help_text="Only if the metadata has several."
    )

    MAX_METADATA_BYTES = 1_000_000

    def clean_metadata_file(self) -> str:
        upload = self.cleaned_data.get("metadata_file")
        if not upload:
            return ""
        if upload.size > self.MAX_METADATA_BYTES:
            raise forms.ValidationError("Metadata files are at most 1 MB.")
        try:
            return upload.read().decode("utf-8")
        except UnicodeDecodeError:
            raise forms.ValidationError("The metadata file is not UTF-8 XML.") from None

    def domain_list(self) -> list[str]:
        return [d for d in self.cleaned_data["domains"].replace(";", ",").split(",") if d.strip()]


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the key is for, e.g. “BI export”.")
    scope = forms.ChoiceField(
        choices=ApiKeyScope.choices, initial=ApiKeyScope.READ, help_text="A read-only key gets 403 on any change."
    )
    expires_in_days = forms.IntegerField(
        label="Expires after (days)",
        required=False,
        min_value=1,
        max_value=3650,
        help_text="Leave empty for a key that works until revoked.",
    )
    workspace_wide = forms.BooleanField(
        label="Sees the whole workspace",
        required=False,
        help_text="Otherwise the key sees only what you see, and stops working if you leave.",
    )

    def __init__(self, *args: Any, membership: Membership, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not membership.can_administer:
            del self.fields["workspace_wide"]


class MemberRemoveForm(forms.Form):
    reassign_to = UUIDChoiceField(
        Membership.objects.none(),
        required=False,
        empty_label="Leave unassigned",
        label="Their open deals go to",
    )

    def __init__(self, *args: Any, member: Membership, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        others = Membership.objects.for_workspace(member.workspace).active().exclude(pk=member.pk)
        limit_choices(self, "reassign_to", others.order_by("display_name"))
