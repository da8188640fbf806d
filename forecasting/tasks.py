"""Background work: re-forecast after deals change (coalesced per workspace by tenancy.jobs)."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from forecasting.compute import quarters_from
from forecasting.models import RollingBacktest, RunTrigger
from forecasting.services import (
    BACKTEST_AFTER_CHANGES,
    backtest_job_run,
    backtest_rolling_request,
    backtest_rolling_run,
    forecast_run,
    target_set,
)
from tenancy.models import Workspace
from tenancy.scope import Scope


def on_deals_changed(workspace_id: int, deal_ids: list[int]) -> None:
    """A DEAL_CHANGE_HANDLERS entry: one fresh forecast for the workspace, whatever the burst size.

    An import (or any burst of `BACKTEST_AFTER_CHANGES` deals or more), or a workspace with no rolling backtest
    yet, also queues one (bulk queue), so the live forecast's blend does not wait for the monthly schedule."""
    workspace = Workspace.objects.filter(id=workspace_id).first()
    if workspace is None:
        return
    forecast_run(workspace=workspace, trigger=RunTrigger.DEAL_CHANGE, changed_ids=deal_ids)
    if len(deal_ids) >= BACKTEST_AFTER_CHANGES or not RollingBacktest.objects.for_workspace(workspace).exists():
        backtest_rolling_request(workspace=workspace)


def backtest_rolling_refresh(workspace_id: int, _ids: list[int]) -> None:
    """Queued by `backtest_rolling_request`: both horizons' rolling backtests, then a forecast that applies them."""
    workspace = Workspace.objects.filter(id=workspace_id).first()
    if workspace is None:
        return
    for horizon in ("this", "next"):
        backtest_rolling_run(workspace=workspace, horizon=horizon)
    forecast_run(workspace=workspace, trigger=RunTrigger.SCHEDULE)


def forecast_requested(workspace_id: int, _ids: list[int]) -> None:
    """The dashboard's "Run now", coalesced per workspace: presses before the run starts make one run."""
    workspace = Workspace.objects.filter(id=workspace_id).first()
    if workspace is not None:
        forecast_run(workspace=workspace, trigger=RunTrigger.MANUAL)


def forecast_scheduled() -> None:
    """Nightly: a run per workspace, so the history of runs vs actuals has a point every day."""
    for workspace in Workspace.objects.all():
        forecast_run(workspace=workspace, trigger=RunTrigger.SCHEDULE)


def backtest_rolling_scheduled() -> None:
    """Monthly: the rolling-origin backtest of both horizons per workspace, which the live forecast's blend reads."""
    for workspace in Workspace.objects.all():
        for horizon in ("this", "next"):
            backtest_rolling_run(workspace=workspace, horizon=horizon)


def demo_targets(workspace_id: int) -> None:
    """DEMO_SEED_HOOKS entry: targets for this and next quarter, then a first forecast."""
    workspace = Workspace.objects.get(id=workspace_id)
    run = forecast_run(workspace=workspace, trigger=RunTrigger.DEMO)
    for (start, end), quarter in zip(
        quarters_from(workspace, timezone.now().astimezone(workspace.tz).date(), 2), run.quarters, strict=False
    ):
        # A stretch goal: a little above the median forecast, as sales leaders set them.
        target_set(
            scope=Scope.whole_workspace(workspace),
            period_start=start,
            period_end=end,
            amount=Decimal(round(quarter["p50"] * 1.1, -3)),
        )


def backtest_jobs_run(ids: list[int]) -> None:
    """tenancy.jobs entry (bulk queue): the accuracy page's queued backtests, one after another."""
    for job_id in ids:
        backtest_job_run(job_id=job_id)
