"""Form helpers shared by every app's screens."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.forms import BaseForm


def apply_service_errors(form: BaseForm, exc: ValidationError) -> None:
    """Show a service's refusal beside the field it concerns (or above the form)."""
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)
