"""Form helpers shared by every app's screens."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms import BaseForm, ModelChoiceField
from django.forms.models import ModelChoiceIterator


def apply_service_errors(form: BaseForm, exc: ValidationError) -> None:
    """Show a service's refusal beside the field it concerns (or above the form)."""
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def limit_choices(form: BaseForm, name: str, queryset: QuerySet[Any], *, empty_label: str | None = None) -> None:
    """Restrict a model choice field to `queryset` (the request's workspace) once the form is built."""
    field = form.fields[name]
    if not isinstance(field, ModelChoiceField):
        raise TypeError(f"{name} is not a model choice field")
    field.queryset = queryset
    if empty_label is not None:
        field.empty_label = empty_label


class _ListChoiceIterator(ModelChoiceIterator):
    """Choices from the queryset's own cache: one plain query per field, not a server-side cursor per render."""

    def __iter__(self) -> Any:
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for obj in self.queryset:
            yield self.choice(obj)

    def __len__(self) -> int:
        return len(self.queryset) + (1 if self.field.empty_label is not None else 0)


class UUIDChoiceField(ModelChoiceField):
    """A model choice posted as its UUID, so no integer pk ever appears in a page."""

    iterator = _ListChoiceIterator

    def __init__(self, queryset: Any, **kwargs: Any) -> None:
        kwargs.setdefault("to_field_name", "uuid")
        super().__init__(queryset, **kwargs)
