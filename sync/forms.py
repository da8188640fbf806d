from __future__ import annotations

import re

from django import forms

from sync.models import ConflictPolicy

# What both CRMs allow in a field's API name; nothing else reaches a SOQL query.
FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")


class ConnectionSettingsForm(forms.Form):
    interval_minutes = forms.IntegerField(min_value=1, max_value=1440, label="Sync every (minutes)")
    conflict_policy = forms.ChoiceField(choices=ConflictPolicy.choices, label="When both sides changed a field")
    attributes = forms.CharField(
        required=False,
        label="Custom fields → deal attributes",
        help_text="One per line: CRM field = attribute name (e.g. Region__c = region).",
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def clean_attributes(self) -> dict[str, str]:
        mapping: dict[str, str] = {}
        for number, line in enumerate(self.cleaned_data["attributes"].splitlines(), start=1):
            if not line.strip():
                continue
            crm_field, sep, attribute = line.partition("=")
            if not sep or not crm_field.strip() or not attribute.strip():
                raise forms.ValidationError(f"Line {number}: write “CRM field = attribute name”.")
            if not FIELD_NAME.match(crm_field.strip()):
                raise forms.ValidationError(f"Line {number}: “{crm_field.strip()}” is not a CRM field's API name.")
            mapping[crm_field.strip()] = attribute.strip()
        return mapping


class ConnectForm(forms.Form):
    """Connect with credentials at hand: a HubSpot private-app token, or a Salesforce refresh token."""

    provider = forms.ChoiceField(choices=[("hubspot", "HubSpot (private-app token)"), ("salesforce", "Salesforce")])
    base_url = forms.URLField(
        required=False,
        assume_scheme="https",
        label="Base URL",
        help_text="Blank: the vendor's own. A sandbox's otherwise.",
    )
    access_token = forms.CharField(required=False, widget=forms.PasswordInput, label="HubSpot access token")
    client_id = forms.CharField(required=False, label="Salesforce client id")
    client_secret = forms.CharField(required=False, widget=forms.PasswordInput, label="Salesforce client secret")
    refresh_token = forms.CharField(required=False, widget=forms.PasswordInput, label="Salesforce refresh token")


class SalesforceOAuthForm(forms.Form):
    base_url = forms.URLField(
        required=False,
        assume_scheme="https",
        label="Salesforce login URL",
        help_text="Blank: https://login.salesforce.com; test.salesforce.com for a sandbox.",
    )


class HubSpotOAuthForm(forms.Form):
    base_url = forms.URLField(
        required=False,
        assume_scheme="https",
        label="HubSpot API URL",
        help_text="Blank: https://api.hubapi.com.",
    )
