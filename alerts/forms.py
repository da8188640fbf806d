"""Input validation for the alert screens (GET filters included)."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.utils import timezone

from alerts.delivery.http import allowed_port
from alerts.detectors import Thresholds
from alerts.models import AlertKind, AlertStatus, DigestFrequency, Priority

STATUS_FILTERS = [("attention", "Needs attention"), ("active", "All unresolved"), *AlertStatus.choices]


class AlertFilterForm(forms.Form):
    status = forms.ChoiceField(choices=STATUS_FILTERS, required=False)
    kind = forms.ChoiceField(choices=[("", "All kinds"), *AlertKind.choices], required=False)
    priority = forms.TypedChoiceField(
        choices=[("", "Any priority"), *sorted(Priority.choices, reverse=True)],
        coerce=int,
        required=False,
        empty_value=None,
    )


class SnoozeForm(forms.Form):
    until = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))

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
