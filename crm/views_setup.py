"""Set-up in the app (admins): pipelines and their stages, typed custom fields of deals, and where currencies are."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm import onboarding as onboarding_state
from crm import setup
from crm.models import CustomField, CustomFieldKind, ForecastCategory, Pipeline, Stage, StageKind
from tenancy.access import get_in_workspace, require_admin
from tenancy.views import _settings_page  # every settings tab renders through tenancy's one helper
from vectoros.forms import apply_service_errors
from vectoros.http import WorkspaceRequest, workspace_view


class PipelineForm(forms.Form):
    name = forms.CharField(max_length=120, label="New pipeline")


class StageForm(forms.Form):
    name = forms.CharField(max_length=120)
    default_probability = forms.DecimalField(label="Probability (%)", min_value=0, max_value=100, decimal_places=2)
    kind = forms.ChoiceField(choices=StageKind.choices)
    forecast_category = forms.ChoiceField(
        choices=[("", "From the kind and probability"), *ForecastCategory.choices], required=False
    )


class CustomFieldForm(forms.Form):
    label = forms.CharField(max_length=80, label="Name")
    kind = forms.ChoiceField(choices=CustomFieldKind.choices, label="Type")
    choices = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="For a choice field: one per line."
    )


@require_http_methods(["GET", "POST"])
@workspace_view()
def pipelines(request: WorkspaceRequest) -> HttpResponse:
    """Every pipeline with its stages in order; admins add pipelines and stages, rename, reorder and delete."""
    ws = request.workspace
    form = PipelineForm(request.POST or None)
    if request.method == "POST":
        require_admin(request.membership)
        if form.is_valid():
            try:
                pipeline = setup.pipeline_add(workspace=ws, name=form.cleaned_data["name"])
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, f"Pipeline “{pipeline.name}” added with the usual stages; adjust them below.")
                return redirect("crm:setup_pipelines", ws.slug)
    rows = [
        (
            pipeline,
            [
                (stage, StageForm(initial=_stage_initial(stage), prefix=str(stage.uuid)))
                for stage in pipeline.stages.order_by("order")
            ],
            StageForm(prefix=f"new-{pipeline.uuid}", initial={"kind": StageKind.OPEN, "default_probability": 50}),
        )
        for pipeline in Pipeline.objects.for_workspace(ws).prefetch_related("stages")
    ]
    context = {"form": form, "rows": rows, "tab": "pipelines"}
    return _settings_page(request, "crm/setup_pipelines.html", context, status=422 if form.errors else 200)


def _stage_initial(stage: Stage) -> dict[str, Any]:
    return {
        "name": stage.name,
        "default_probability": stage.default_probability,
        "kind": stage.kind,
        "forecast_category": stage.forecast_category,
    }


@require_POST
@workspace_view()
def stage_save(request: WorkspaceRequest, pipeline_uuid: str) -> HttpResponse:
    """Add a stage (no `stage` posted) or change one."""
    require_admin(request.membership)
    pipeline = get_in_workspace(Pipeline, request.workspace, pipeline_uuid)
    stage = None
    if stage_uuid := request.POST.get("stage"):
        stage = get_in_workspace(Stage, request.workspace, stage_uuid)
        if stage.pipeline_id != pipeline.id:
            stage = None
    form = StageForm(request.POST, prefix=str(stage.uuid) if stage else f"new-{pipeline.uuid}")
    if form.is_valid():
        try:
            saved = setup.stage_save(pipeline=pipeline, stage=stage, **form.cleaned_data)
        except ValidationError as exc:
            messages.error(request, f"Not saved: {' '.join(exc.messages)}")
        else:
            messages.success(request, f"Stage “{saved.name}” saved.")
    else:
        errors = " ".join(f"{form.fields[n].label or n}: {e}" for n, es in form.errors.items() for e in es)
        messages.error(request, f"Not saved: {errors}")
    return redirect("crm:setup_pipelines", request.workspace.slug)


@require_POST
@workspace_view()
def stage_change(request: WorkspaceRequest, stage_uuid: str) -> HttpResponse:
    """Move a stage up or down, or delete it (`action` = up, down or delete)."""
    require_admin(request.membership)
    stage = get_in_workspace(Stage, request.workspace, stage_uuid)
    action = request.POST.get("action")
    try:
        if action in {"up", "down"}:
            setup.stage_move(stage=stage, step=-1 if action == "up" else 1)
        elif action == "delete":
            setup.stage_delete(stage=stage)
            messages.success(request, f"Stage “{stage.name}” deleted.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("crm:setup_pipelines", request.workspace.slug)


@require_http_methods(["GET", "POST"])
@workspace_view()
def custom_fields(request: WorkspaceRequest) -> HttpResponse:
    ws = request.workspace
    form = CustomFieldForm(request.POST or None)
    if request.method == "POST":
        require_admin(request.membership)
        if form.is_valid():
            data = form.cleaned_data
            try:
                field = setup.custom_field_save(
                    workspace=ws, label=data["label"], kind=data["kind"], choices=data["choices"].splitlines()
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, f"Field “{field.label}” added to deals.")
                return redirect("crm:setup_fields", ws.slug)
    context = {"form": form, "fields": CustomField.objects.for_workspace(ws), "tab": "fields"}
    return _settings_page(request, "crm/setup_fields.html", context, status=422 if form.errors else 200)


@require_POST
@workspace_view()
def custom_field_delete(request: WorkspaceRequest, field_uuid: str) -> HttpResponse:
    require_admin(request.membership)
    field = get_in_workspace(CustomField, request.workspace, field_uuid)
    setup.custom_field_delete(field=field)
    messages.success(request, f"Field “{field.label}” removed; the values stay in the deals.")
    return redirect("crm:setup_fields", request.workspace.slug)


@require_GET
@workspace_view()
def onboarding(request: WorkspaceRequest) -> HttpResponse:
    """The first-run checklist (a new workspace's board shows it too, until the workspace has deals)."""
    return _settings_page(
        request, "crm/onboarding.html", {"onboarding_items": onboarding_state.onboarding_checklist(request.workspace)}
    )


@require_POST
@workspace_view()
def onboarding_sample(request: WorkspaceRequest) -> HttpResponse:
    require_admin(request.membership)
    try:
        count = onboarding_state.sample_deals_seed(workspace=request.workspace, actor=request.membership)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("crm:onboarding", request.workspace.slug)
    messages.success(
        request, f"{count} sample deals added (source “{onboarding_state.SAMPLE_SOURCE}”); delete them any time."
    )
    return redirect("crm:board", request.workspace.slug)
