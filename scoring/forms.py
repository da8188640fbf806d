from __future__ import annotations

from django import forms

from scoring.models import FlagDirection


class ScoreFlagForm(forms.Form):
    direction = forms.ChoiceField(choices=FlagDirection.choices, label="The score is")
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}), label="Why")

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Say why the score is wrong.")
        return reason
