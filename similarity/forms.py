from __future__ import annotations

from django import forms

OUTCOME_CHOICES = [("", "Any outcome"), ("open", "Open"), ("won", "Won"), ("lost", "Lost"), ("closed", "Closed")]


class SearchForm(forms.Form):
    q = forms.CharField(
        label="Describe the deal",
        max_length=500,
        required=False,
        strip=True,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "e.g. renewal stuck in legal review"}),
    )
    outcome = forms.ChoiceField(label="Outcome", choices=OUTCOME_CHOICES, required=False)
