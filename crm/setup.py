"""Writes of a workspace's CRM set-up: pipelines, their stages (order, probability, forecast category, kind) and
typed custom fields of deals. Admins only (the caller checks); every refusal is a ValidationError with a message."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils.text import slugify

from crm.models import CustomField, CustomFieldKind, Deal, Pipeline, Stage, StageKind, default_forecast_category
from crm.services import pipeline_create_default
from tenancy.models import Workspace


def pipeline_add(*, workspace: Workspace, name: str) -> Pipeline:
    """A new pipeline with the usual stages, to rename and reorder."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the pipeline a name."})
    if Pipeline.objects.for_workspace(workspace).filter(name__iexact=name).exists():
        raise ValidationError({"name": f"There is already a pipeline called “{name}”."})
    with transaction.atomic():
        return pipeline_create_default(workspace=workspace, name=name)


def _deals_in(stage: Stage) -> int:
    return Deal.all_objects.filter(stage=stage).count()


@transaction.atomic
def stage_save(
    *,
    pipeline: Pipeline,
    stage: Stage | None = None,
    name: str,
    default_probability: Decimal,
    kind: str,
    forecast_category: str = "",
) -> Stage:
    """Add a stage at the end of the pipeline, or change one. A stage that holds deals keeps its kind: turning an
    open stage into a won one would close its deals without their history saying so."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the stage a name."})
    clash = Stage.objects.filter(pipeline=pipeline, name__iexact=name)
    if stage is not None:
        clash = clash.exclude(pk=stage.pk)
    if clash.exists():
        raise ValidationError({"name": f"The {pipeline.name} pipeline already has a stage called “{name}”."})
    if stage is not None and kind != stage.kind and (n := _deals_in(stage)):
        raise ValidationError({"kind": f"{n} deal{'s' if n != 1 else ''} are in “{stage.name}”; move them first."})
    if stage is None:
        last = Stage.objects.filter(pipeline=pipeline).aggregate(m=Max("order"))["m"]
        stage = Stage(workspace_id=pipeline.workspace_id, pipeline=pipeline, order=0 if last is None else last + 1)
    stage.name, stage.default_probability, stage.kind = name, default_probability, kind
    stage.forecast_category = forecast_category or default_forecast_category(kind, float(default_probability))
    stage.full_clean()
    stage.save()
    return stage


@transaction.atomic
def stage_move(*, stage: Stage, step: int) -> Stage:
    """Swap a stage with its neighbour before (step -1) or after (+1); the board shows columns in this order."""
    stages = list(Stage.objects.select_for_update().filter(pipeline_id=stage.pipeline_id).order_by("order"))
    index = next(i for i, s in enumerate(stages) if s.pk == stage.pk)
    other_index = index + step
    if not 0 <= other_index < len(stages):
        return stage
    this, other = stages[index], stages[other_index]
    spare = stages[-1].order + 1  # (pipeline, order) is unique: park one while the other takes its place
    this_order, other_order = this.order, other.order
    Stage.objects.filter(pk=this.pk).update(order=spare)
    Stage.objects.filter(pk=other.pk).update(order=this_order)
    Stage.objects.filter(pk=this.pk).update(order=other_order)
    this.refresh_from_db()
    return this


@transaction.atomic
def stage_delete(*, stage: Stage) -> None:
    """Delete an unused stage; one that holds deals (deleted ones too, kept for a restore) is refused."""
    if n := _deals_in(stage):
        raise ValidationError(
            f"{n} deal{'s' if n != 1 else ''} are in “{stage.name}”; move them to another stage first."
        )
    others = Stage.objects.filter(pipeline_id=stage.pipeline_id).exclude(pk=stage.pk)
    if not others.filter(kind=StageKind.OPEN).exists() and stage.kind == StageKind.OPEN:
        raise ValidationError("A pipeline needs at least one open stage.")
    stage.delete()


def _clean_choices(kind: str, choices: list[str]) -> list[str]:
    values = [c.strip() for c in choices if c.strip()]
    if kind == CustomFieldKind.CHOICE and not values:
        raise ValidationError({"choices": "A choice field needs its choices, one per line."})
    return list(dict.fromkeys(values)) if kind == CustomFieldKind.CHOICE else []


@transaction.atomic
def custom_field_save(
    *, workspace: Workspace, field: CustomField | None = None, label: str, kind: str, choices: list[str], key: str = ""
) -> CustomField:
    """Define (or change) a typed field of deals; its values live in each deal's attributes under its key."""
    label = label.strip()
    if not label:
        raise ValidationError({"label": "Give the field a name."})
    if field is None:
        key = slugify(key or label).replace("-", "_")[:40]
        if not key:
            raise ValidationError({"label": "Use letters or digits in the name."})
        last = CustomField.objects.for_workspace(workspace).aggregate(m=Max("order"))["m"]
        field = CustomField(workspace=workspace, key=key, order=0 if last is None else last + 1)
    field.label, field.kind, field.choices = label, kind, _clean_choices(kind, choices)
    field.full_clean(validate_unique=False)
    try:
        with transaction.atomic():
            field.save()
    except IntegrityError:
        raise ValidationError({"label": f"A field with the key “{field.key}” exists already."}) from None
    return field


def custom_field_delete(*, field: CustomField) -> None:
    """Forget the definition; the values stay in the deals' attributes (an import may have brought them)."""
    field.delete()


def custom_values_check(workspace: Workspace, values: dict[str, Any]) -> dict[str, Any]:
    """The deal attributes for these custom-field values, refused when a value does not fit its field."""
    fields = {f.key: f for f in CustomField.objects.for_workspace(workspace)}
    clean: dict[str, Any] = {}
    for key, value in values.items():
        field = fields.get(key)
        if field is None:
            raise ValidationError({key: "No such field."})
        if value in (None, ""):
            clean[key] = None
        elif field.kind == CustomFieldKind.CHOICE and value not in field.choices:
            raise ValidationError({f"cf_{key}": f"Pick one of: {', '.join(field.choices)}."})
        else:
            clean[key] = value
    return clean
