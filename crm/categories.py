"""Forecast categories in the app: the workspace's names for them, each stage's default, and who may override
a deal's category (its owner, the managers of the teams above the owner, owners and admins)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from crm.models import Deal, ForecastCategory, ForecastCategoryName, Stage, StageKind
from tenancy.models import Membership, Role, Workspace
from tenancy.scope import team_ids_managed_by

# What a person may pick for an open deal (Closed belongs to won deals' stages).
OVERRIDABLE = (ForecastCategory.COMMIT, ForecastCategory.BEST_CASE, ForecastCategory.PIPELINE, ForecastCategory.OMITTED)


def category_labels(workspace: Workspace | int) -> dict[str, str]:
    """{category: the workspace's name for it}, the default names where it has none."""
    labels = {c.value: str(c.label) for c in ForecastCategory}
    labels.update(ForecastCategoryName.objects.for_workspace(workspace).values_list("category", "label"))
    return labels


def category_choices(workspace: Workspace | int, *, stage_default: str | None = None) -> list[tuple[str, str]]:
    """The choices of a deal's category: "follow the stage" first, then the categories a person may pick."""
    labels = category_labels(workspace)
    default = f"Stage default ({labels[stage_default]})" if stage_default else "Stage default"
    return [("", default), *((c.value, labels[c.value]) for c in OVERRIDABLE)]


def may_set_category(actor: Membership | None, deal: Deal) -> bool:
    """The deal's owner, a manager of a team at or above the owner's team, an owner or admin (None = the system)."""
    if actor is None:
        return True
    if actor.workspace_id != deal.workspace_id or not actor.can_write:
        return False
    if actor.can_administer or deal.owner_id == actor.id:
        return True
    if actor.role != Role.MANAGER or deal.owner_id is None:
        return False
    owner_team = Membership.objects.filter(id=deal.owner_id).values_list("team_id", flat=True).first()
    return owner_team is not None and owner_team in team_ids_managed_by(actor)


def require_category_permission(actor: Membership | None, deal: Deal) -> None:
    if not may_set_category(actor, deal):
        raise PermissionDenied("Only the deal's owner, their managers and admins set its forecast category.")


@transaction.atomic
def category_names_save(*, actor: Membership, labels: dict[str, str]) -> dict[str, str]:
    """Rename categories for the actor's workspace (owners and admins); a blank name restores the default."""
    if not actor.can_administer:
        raise PermissionDenied("Only owners and admins rename forecast categories.")
    errors = {}
    for category, label in labels.items():
        if category not in ForecastCategory.values:
            errors[category] = "Unknown forecast category."
        elif len(label.strip()) > 40:
            errors[category] = "At most 40 characters."
    if errors:
        raise ValidationError(errors)
    for category, label in labels.items():
        label = label.strip()
        if not label or label == ForecastCategory(category).label:
            ForecastCategoryName.objects.filter(workspace_id=actor.workspace_id, category=category).delete()
        else:
            ForecastCategoryName.objects.update_or_create(
                workspace_id=actor.workspace_id, category=category, defaults={"label": label}
            )
    return category_labels(actor.workspace_id)


def stage_category_set(*, actor: Membership, stage: Stage, category: str) -> Stage:
    """Change a stage's default category (owners and admins). Won stages stay Closed."""
    if not actor.can_administer or stage.workspace_id != actor.workspace_id:
        raise PermissionDenied("Only owners and admins change a stage's forecast category.")
    if category not in ForecastCategory.values:
        raise ValidationError({"category": "Unknown forecast category."})
    if (stage.kind == StageKind.WON) != (category == ForecastCategory.CLOSED):
        raise ValidationError({"category": "Closed is the category of won stages, and only of them."})
    if stage.forecast_category != category:
        stage.forecast_category = category
        stage.save(update_fields=["forecast_category"])
    return stage
