"""Reads of deal scores for other apps (forecasting, alerts, pages)."""

from __future__ import annotations

from dataclasses import dataclass

from scoring.models import DealScore, DriftReport, ModelStatus, ScoreFlag, ScoringModel
from tenancy.models import Membership, Role
from tenancy.scope import Scope


def deal_win_probabilities(workspace_id: int, deal_ids: list[int] | None = None) -> dict[int, float]:
    """Calibrated win probabilities (0-1) of open deals from the workspace's active scoring model.

    Empty when the workspace has no active model: callers then use their own stage/segment
    estimates. When the active version is the Beta-Binomial fallback (too little history, or no
    model beat the stage rates), those fallback rates are returned, as they are the honest estimate.
    """
    qs = DealScore.objects.filter(workspace_id=workspace_id, model__status=ModelStatus.ACTIVE)
    if deal_ids is not None:
        qs = qs.filter(deal_id__in=deal_ids)
    return dict(qs.values_list("deal_id", "probability"))


def active_model(workspace_id: int) -> ScoringModel | None:
    return ScoringModel.objects.filter(workspace_id=workspace_id, status=ModelStatus.ACTIVE).first()


@dataclass
class DealPanel:
    score: DealScore | None
    model: ScoringModel | None
    flags: list[ScoreFlag]


def deal_panel(*, deal_id: int, membership: Membership) -> DealPanel:
    score = DealScore.objects.filter(deal_id=deal_id).select_related("model").first()
    flags = ScoreFlag.objects.filter(deal_id=deal_id).select_related("flagged_by")
    if membership.role == "rep":
        flags = flags.filter(flagged_by=membership)  # a rep sees their own flags; managers see all
    return DealPanel(
        score=score, model=score.model if score else active_model(membership.workspace_id), flags=list(flags)
    )


def flags_for_member(scope: Scope, limit: int = 50) -> list[ScoreFlag]:
    """The latest score flags on deals in the member's scope (reps see theirs on the deal page only)."""
    if scope.membership is not None and scope.membership.role == Role.REP:
        return []
    flags = scope.visible(
        ScoreFlag.objects.filter(workspace_id=scope.workspace.id, deal__deleted_at__isnull=True), owner="deal__owner"
    )
    return list(flags.select_related("deal", "flagged_by").order_by("-created_at")[:limit])


def rollback_target(workspace_id: int) -> ScoringModel | None:
    """The version a roll back re-activates: the last one active before the current one (None: nothing to roll
    back to, so the page offers no button)."""
    current = ScoringModel.objects.filter(workspace_id=workspace_id, status=ModelStatus.ACTIVE).first()
    return (
        ScoringModel.objects.filter(workspace_id=workspace_id, status=ModelStatus.RETIRED, activated_at__isnull=False)
        .exclude(pk__in=[current.pk] if current is not None else [])
        .order_by("-activated_at")
        .first()
    )


def model_versions(workspace_id: int) -> list[ScoringModel]:
    return list(ScoringModel.objects.filter(workspace_id=workspace_id).order_by("-version")[:24])


def latest_drift(model: ScoringModel | None) -> DriftReport | None:
    return model.drift_reports.order_by("-computed_at").first() if model else None


def model_drift(workspace_id: int) -> DriftReport | None:
    """The active model's latest drift report when it found drift (`summary` says what), else None.

    The alerts app's monitor pass raises its model-drift alert from this and resolves it once a later
    report (or a newly activated model) no longer drifts.
    """
    report = latest_drift(active_model(workspace_id))
    return report if report is not None and report.summary else None
