"""Forms of the collab screens: a comment, a task, a deal's next step, where notifications go."""

from __future__ import annotations

from typing import Any

from django import forms

from collab.models import NotificationKind, NotificationSettings
from collab.services import CHANNELS, MAX_COMMENT_CHARS
from tenancy.models import Membership
from vectoros.forms import UUIDChoiceField

CHANNEL_LABELS = {"app": "In the app", "email": "Email", "push": "Push on this and my other devices"}


class CommentForm(forms.Form):
    body = forms.CharField(
        label="Comment",
        max_length=MAX_COMMENT_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="**bold**, *italic*, [link](https://…); type @Name or pick people below to mention them.",
    )


class TaskForm(forms.Form):
    title = forms.CharField(max_length=200)
    due_date = forms.DateField(label="Due", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    assignee = UUIDChoiceField(queryset=Membership.objects.none(), required=False, empty_label="Me")

    def __init__(self, *args: Any, assignees: list[Membership] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["assignee"]
        assert isinstance(field, UUIDChoiceField)
        field.queryset = Membership.objects.filter(id__in=[m.id for m in assignees or []]).order_by("display_name")


class NextStepForm(forms.Form):
    next_step = forms.CharField(label="Next step", max_length=255, required=False)


class NotificationSettingsForm(forms.Form):
    """One checkbox per kind of notification and channel."""

    def __init__(self, *args: Any, current: NotificationSettings, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for kind in NotificationKind:
            for channel in CHANNELS:
                if channel == "push" and kind == NotificationKind.ASSIGNMENT:
                    continue  # pushes are for mentions and Critical alerts only
                label = CHANNEL_LABELS[channel] + (" (Critical only)" if channel == "push" and kind == "alert" else "")
                self.fields[f"{kind.value}_{channel}"] = forms.BooleanField(
                    label=label, required=False, initial=current.wants(kind.value, channel)
                )

    def groups(self) -> list[tuple[str, list[forms.BoundField]]]:
        return [
            (kind.label, [self[name] for name in self.fields if name.startswith(f"{kind.value}_")])
            for kind in NotificationKind
        ]

    def channels(self) -> dict[str, list[str]]:
        return {
            kind.value: [c for c in CHANNELS if self.cleaned_data.get(f"{kind.value}_{c}")] for kind in NotificationKind
        }
