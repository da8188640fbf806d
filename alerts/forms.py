"""Input validation for the alert screens (GET filters included)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django import forms
from django.utils import timezone

from alerts.delivery.http import allowed_port
from alerts.detectors import Thresholds
from alerts.models import AlertKind, AlertStatus, DigestFrequency, Priority
from alerts.services import ALERT_ACTION_VERBS
from crm.models import Deal
from tenancy.models import Membership
from tenancy.scope import Scope
from vectoros.forms import UUIDChoiceField, limit_choices

STATUS_FILTERS = [
    ("attention", "Needs attention"),
    ("active", "All unresolved"),
    *AlertStatus.choices,
    ("all", "All, resolved too"),
]


class AlertFilterForm(forms.Form):
    """The list's GET filters; owners are those in the member's scope, a deal is named by its UUID."""

    status = forms.ChoiceField(choices=STATUS_FILTERS, required=False)
    kind = forms.ChoiceField(choices=[("", "All kinds"), *AlertKind.choices], required=False)
    priority = forms.TypedChoiceField(
        choices=[("", "Any priority"), *sorted(Priority.choices, reverse=True)],
        coerce=int,
        required=False,
        empty_value=None,
        label="Priority at least",
    )
    owner = UUIDChoiceField(Membership.objects.none(), required=False, empty_label="Any owner")
    q = forms.CharField(required=False, max_length=200, label="Deal")
    deal = forms.UUIDField(required=False, widget=forms.HiddenInput)
    page = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args: Any, scope: Scope, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.scope = scope
        limit_choices(self, "owner", scope.reps())
        self.fields["q"].widget.attrs.update(placeholder="Deal name contains…", type="search")

    def clean_deal(self) -> Deal | None:
        value = self.cleaned_data.get("deal")
        if value is None:
            return None
        deal = self.scope.deals().filter(uuid=value).first()
        if deal is None:
            raise forms.ValidationError("No such deal.")
        return deal

    def filters(self) -> dict[str, Any]:
        """Keyword arguments of `selectors.alerts_for_member` (the defaults when the form is unbound or invalid)."""
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        return {
            "status": data.get("status") or "attention",
            "kind": data.get("kind") or "",
            "min_priority": data.get("priority"),
            "owner": data.get("owner"),
            "deal": data.get("deal"),
            "search": data.get("q") or "",
        }


class BulkActionForm(forms.Form):
    """The list's "with selected" bar: the ticked alerts' UUIDs, one action, and a date for snoozing."""

    alert = forms.Field(required=False, widget=forms.MultipleHiddenInput)  # UUIDs, checked against the scope later
    action = forms.ChoiceField(choices=[(a, a.capitalize()) for a in ALERT_ACTION_VERBS])
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="Snooze until")

    def clean_alert(self) -> list[str]:
        values = self.cleaned_data.get("alert") or []
        if not values:
            raise forms.ValidationError("Tick at least one alert.")
        try:
            return [str(uuid.UUID(v)) for v in values[:500]]
        except ValueError:
            raise forms.ValidationError("Unknown alert.") from None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("action") == "snooze":
            until = data.get("until")
            if until is None:
                self.add_error("until", "Choose the date to snooze until.")
            else:
                _check_snooze_date(until, self, "until")
        return data


def _check_snooze_date(until: Any, form: forms.Form, field: str) -> None:
    today = timezone.localdate()
    if until <= today:
        form.add_error(field, "Pick a date after today.")
    elif until > today + timedelta(days=365):
        form.add_error(field, "Snooze for at most a year.")


class SnoozeForm(forms.Form):
    until = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"required": "Choose the date to snooze until."},
    )

    def clean_until(self):
        until = self.cleaned_data["until"]
        today = timezone.localdate()
        if until <= today:
            raise forms.ValidationError("Pick a date after today.")
        if until > today + timedelta(days=365):
            raise forms.ValidationError("Snooze for at most a year.")
        return until


class DismissForm(forms.Form):
    not_useful = forms.BooleanField(required=False, label="This alert was not useful")
    feedback = forms.CharField(required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 2}))


class PreferenceForm(forms.Form):
    digest = forms.ChoiceField(choices=DigestFrequency.choices, label="Email digest")
    min_priority = forms.TypedChoiceField(
        choices=sorted(Priority.choices, reverse=True), coerce=int, label="Include alerts from priority"
    )


class WebhookEndpointForm(forms.Form):
    url = forms.URLField(max_length=500, assume_scheme="https", label="Endpoint URL (https)")
    send_alert_events = forms.BooleanField(required=False, initial=True, label="Alert events")
    send_deal_events = forms.BooleanField(required=False, label="Deal events")

    def clean_url(self):
        url = self.cleaned_data["url"]
        if not url.startswith("https://"):
            raise forms.ValidationError("Webhook endpoints must use https://.")
        if not allowed_port(url):
            raise forms.ValidationError("Webhook endpoints must use port 443 or 8443.")
        return url


class AlertSettingsForm(forms.Form):
    """The common thresholds as fields; the rest keep their defaults."""

    stale_days = forms.FloatField(min_value=1, max_value=365)
    stall_percentile = forms.FloatField(min_value=50, max_value=99)
    slip_min_pushes = forms.IntegerField(min_value=1, max_value=20)
    engagement_drop_ratio = forms.FloatField(min_value=0.05, max_value=0.95)
    ghost_days = forms.FloatField(min_value=3, max_value=90)
    model_drop = forms.FloatField(min_value=0.01, max_value=0.9)
    coverage_ratio = forms.FloatField(min_value=0.5, max_value=10)
    forecast_drop_share = forms.FloatField(min_value=0.01, max_value=0.9)
    quarter_target = forms.DecimalField(min_value=0, max_digits=16, decimal_places=2, required=False)
    slack_webhook_url = forms.URLField(required=False, assume_scheme="https", label="Slack incoming-webhook URL")
    slack_enabled = forms.BooleanField(required=False, label="Post Critical alerts to Slack")

    THRESHOLD_FIELDS = (
        "stale_days",
        "stall_percentile",
        "slip_min_pushes",
        "engagement_drop_ratio",
        "ghost_days",
        "model_drop",
        "coverage_ratio",
        "forecast_drop_share",
    )

    @classmethod
    def initial_for(cls, thresholds: Thresholds, settings_row) -> dict:
        values = thresholds.as_dict()
        initial = {name: values[name] for name in cls.THRESHOLD_FIELDS}
        initial.update(
            quarter_target=settings_row.quarter_target,
            slack_webhook_url=settings_row.slack_webhook_url,
            slack_enabled=settings_row.slack_enabled,
        )
        return initial

    def clean_slack_webhook_url(self):
        url = self.cleaned_data["slack_webhook_url"]
        if url and (not url.startswith("https://") or not allowed_port(url)):
            raise forms.ValidationError("Slack webhook URLs use https:// on port 443.")
        return url

    def clean(self):
        data = super().clean()
        if data.get("slack_enabled") and not data.get("slack_webhook_url"):
            self.add_error("slack_webhook_url", "Give the Slack webhook URL to post to Slack.")
        return data
