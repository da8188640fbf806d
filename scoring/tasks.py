"""Background jobs of the scoring app: they take ids, reload, and call a service."""

from __future__ import annotations

import logging

from django.db.models import Count, Q

from scoring.services import drift_check, outcomes_capture, scorer_train, scores_refresh
from tenancy.models import Workspace

logger = logging.getLogger(__name__)


def on_deals_changed(workspace_id: int, deal_ids: list[int]) -> None:
    """A DEAL_CHANGE_HANDLER: capture outcomes of deals that just closed, then rescore the changed open ones."""
    outcomes_capture(workspace_id=workspace_id, deal_ids=deal_ids)
    scores_refresh(workspace_id=workspace_id, deal_ids=deal_ids)


def retrain_workspace(workspace_id: int) -> None:
    workspace = Workspace.objects.filter(id=workspace_id).first()
    if workspace is None:
        return
    scorer_train(workspace=workspace)
    scores_refresh(workspace_id=workspace_id)


def retrain_requested(workspace_id: int, _ids: list[int]) -> None:
    """The model page's "Retrain" (coalesced per workspace by tenancy.jobs)."""
    retrain_workspace(workspace_id)


def retrain_all() -> None:
    """Monthly: a new version per workspace with closed deals (activated only if it wins)."""
    for workspace_id in _workspaces_with_closed_deals():
        try:
            retrain_workspace(workspace_id)
        except Exception:  # one workspace's failure must not stop the others
            logger.exception("scoring retrain failed for workspace %s", workspace_id)


def rescore_workspace(workspace_id: int) -> None:
    """Rescore every open deal of one workspace (after a rollback changed its active version)."""
    scores_refresh(workspace_id=workspace_id)


def rescore_all() -> None:
    """Nightly: rescore every open deal (ages and overdue days move) and check drift."""
    for workspace_id in _workspaces_with_closed_deals():
        try:
            scores_refresh(workspace_id=workspace_id)
            drift_check(workspace_id=workspace_id)
        except Exception:  # one workspace's failure must not stop the others
            logger.exception("scoring rescore failed for workspace %s", workspace_id)


def demo_seed_hook(workspace_id: int) -> None:
    """DEMO_SEED_HOOKS: train the demo workspace's first model (synthetic data, marked so) and score it."""
    retrain_workspace(workspace_id)


def _workspaces_with_closed_deals() -> list[int]:
    return list(
        Workspace.objects.annotate(n=Count("deals", filter=~Q(deals__outcome="open")))
        .filter(n__gt=0)
        .values_list("id", flat=True)
    )
