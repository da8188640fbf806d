"""Forecast categories settings: the workspace's names for the categories and each stage's default category."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from crm import categories
from crm.models import ForecastCategory, Stage
from vectoros.http import WorkspaceRequest, render_screen, workspace_view


class CategorySettingsForm(forms.Form):
    """One name per category, one category per stage (fields `stage_<uuid hex>`)."""

    def __init__(self, *args: Any, labels: dict[str, str], stages: list[Stage], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stages = stages
        for category in ForecastCategory:
            self.fields[f"label_{category.value}"] = forms.CharField(
                label=f"Name for “{category.label}”", max_length=40, required=False, initial=labels[category.value]
            )
        for stage in stages:
            self.fields[f"stage_{stage.uuid.hex}"] = forms.ChoiceField(
                label=f"{stage.pipeline.name} · {stage.name}",
                choices=[(c.value, labels[c.value]) for c in ForecastCategory],
                initial=stage.forecast_category,
            )

    def label_fields(self) -> list[forms.BoundField]:
        return [self[f"label_{c.value}"] for c in ForecastCategory]

    def stage_fields(self) -> list[forms.BoundField]:
        return [self[f"stage_{s.uuid.hex}"] for s in self.stages]


@require_http_methods(["GET", "POST"])
@workspace_view()
def forecast_categories(request: WorkspaceRequest) -> HttpResponse:
    workspace = request.workspace
    stages = list(Stage.objects.for_workspace(workspace).select_related("pipeline").order_by("pipeline__name", "order"))
    form = CategorySettingsForm(request.POST or None, labels=categories.category_labels(workspace), stages=stages)
    if request.method == "POST":
        if not request.membership.can_administer:
            raise PermissionDenied("Only owners and admins change forecast categories.")
        if form.is_valid():
            try:
                with transaction.atomic():
                    categories.category_names_save(
                        actor=request.membership,
                        labels={c.value: form.cleaned_data[f"label_{c.value}"] for c in ForecastCategory},
                    )
                    for stage in stages:
                        categories.stage_category_set(
                            actor=request.membership, stage=stage, category=form.cleaned_data[f"stage_{stage.uuid.hex}"]
                        )
            except ValidationError as exc:
                form.add_error(None, exc.messages)
            else:
                messages.success(request, "Forecast categories saved.")
                return redirect("crm:forecast_categories", slug=workspace.slug)
    context = {"form": form, "can_edit": request.membership.can_administer}
    return render_screen(request, "crm/forecast_categories.html", context, status=422 if form.errors else 200)
