"""Writes of the forecasting app: stored runs, targets, backtest results."""

from __future__ import annotations

import re
import time as clock
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from forecasting import compute
from forecasting.backtest import EVERY, HORIZONS, backtest_rolling, calibration_as_of, horizon_of
from forecasting.blend import blend_calibrated, blend_live
from forecasting.compute import (
    DEFAULT_SIMS,
    PeriodForecast,
    actual_won,
    crps,
    end_of_day,
    fit_as_of,
    forecast_period,
    month_pace,
    quarters_from,
    summary,
)
from forecasting.engine import confidence_label
from forecasting.inputs import won_between
from forecasting.models import (
    BacktestJob,
    BacktestJobStatus,
    BacktestResult,
    CurrencyRate,
    DealForecast,
    ForecastRun,
    RollingBacktest,
    RunSimulation,
    RunTrigger,
    Target,
)
from forecasting.simulations import StoredSimulation, pack
from scoring.selectors import deal_win_probabilities
from tenancy.access import require_admin
from tenancy.jobs import BULK_KEY_SUFFIX, enqueue_coalesced
from tenancy.models import Membership, Team, Workspace
from tenancy.scope import Scope
from vectoros.bulk import copy_rows


def rollups_for(workspace: Workspace, forecast: PeriodForecast) -> dict[str, Any]:
    """Per rep and per team (along the hierarchy) from the same simulations, new business split by rep."""
    result = forecast.result
    owners: list[int] = result.extras.get("owners", [])  # type: ignore[assignment]
    if result.group_totals is None or not owners:
        return {"reps": [], "teams": []}
    realised = np.array([forecast.realised_by_owner.get(o, 0.0) for o in owners])
    # New business goes to reps in proportion to their open pipeline (their share of expected wins).
    expected = np.zeros(len(owners))
    index = {o: i for i, o in enumerate(owners)}
    for owner, value in zip(forecast.owner_ids.tolist(), result.deal_expected.tolist(), strict=True):
        expected[index[owner]] += value
    shares = expected / expected.sum() if expected.sum() > 0 else np.full(len(owners), 1 / len(owners))
    per_rep = result.group_totals + realised[None, :]
    if result.group_new_business is not None:
        per_rep = per_rep + result.group_new_business[:, None] * shares[None, :]
    members = {m.id: m for m in Membership.objects.for_workspace(workspace)}
    teams = list(Team.objects.filter(workspace=workspace))

    def describe(values: np.ndarray) -> dict[str, object]:
        # Every percentile, so the chance of any target set later comes from these same simulations.
        q = np.percentile(values, np.arange(101))
        return {
            "p10": float(q[10]),
            "p50": float(q[50]),
            "p90": float(q[90]),
            "mean": float(values.mean()),
            "q": [round(float(v), 2) for v in q],
        }

    reps = []
    for i, owner in enumerate(owners):
        member = members.get(owner)
        reps.append(
            {
                "id": member.uuid.hex if member else "",
                "name": member.display_name if member else "Unassigned",
                **describe(per_rep[:, i]),
            }
        )
    children: dict[int | None, list[int]] = {}
    for team in teams:
        children.setdefault(team.parent_id, []).append(team.id)
    team_rows = []
    for team in teams:
        below, stack = set(), [team.id]
        while stack:
            t = stack.pop()
            if t not in below:
                below.add(t)
                stack.extend(children.get(t, []))
        cols = [i for i, o in enumerate(owners) if o in members and members[o].team_id in below]
        if not cols:
            continue
        team_rows.append({"id": team.uuid.hex, "name": team.name, **describe(per_rep[:, cols].sum(axis=1))})
    return {"reps": reps, "teams": team_rows, "workspace": describe(result.totals)}


def forecast_request(*, workspace: Workspace) -> None:
    """Queue a fresh forecast (after commit, coalesced per workspace); the dashboard swaps it in when it is stored."""
    func = "forecasting.tasks.forecast_requested"
    enqueue_coalesced(key=f"{func}:{workspace.id}", func=func, head_args=[workspace.id])


def forecast_run(
    *,
    workspace: Workspace,
    trigger: str = RunTrigger.MANUAL,
    as_of: datetime | None = None,
    sims: int | None = None,
    changed_ids: Sequence[int] = (),
) -> ForecastRun:
    """Forecast this quarter (stored with per-deal parts and roll-ups) and the next three (summaries).

    `changed_ids`: the deals whose change asked for this run (a live run folds their history again)."""
    started = clock.perf_counter()
    sims = sims or compute.DEFAULT_SIMS  # looked up per call, so a test can run fewer
    live = as_of is None
    as_of = as_of or timezone.now()
    loaded, model = fit_as_of(workspace, as_of, live=live, changed_ids=changed_ids)
    scores = deal_win_probabilities(workspace.id, [int(d) for d in loaded.deal_ids[loaded.history.is_open]])
    quarters = quarters_from(workspace, as_of.astimezone(workspace.tz).date())
    base = forecast_period(workspace, loaded, model, *quarters[0], sims=sims, seed=0, scores=scores, keep_outcomes=True)
    raw_totals = base.result.totals
    # Blended with the run rate, as the workspace's stored rolling backtest learnt (no-op without one).
    base, blend_note = blend_live(workspace, loaded, base)
    later = _later_quarters_carried(workspace, quarters) if trigger == RunTrigger.DEAL_CHANGE else None
    if later is None:
        # The next three quarters are stored as summaries only: fewer simulations give their percentiles
        # to well under a percent.
        ahead = [
            forecast_period(workspace, loaded, model, start, end, sims=min(sims, 2000), seed=i, scores=scores)
            for i, (start, end) in enumerate(quarters[1:], start=1)
        ]
        # The next quarter blended as the backtest of `next` learnt; the two after it: the deal model alone.
        ahead[0] = blend_live(workspace, loaded, ahead[0], "next")[0]
        later = [_quarter_summary(f) for f in ahead]
    with transaction.atomic():
        run = ForecastRun.objects.create(
            workspace=workspace,
            as_of=as_of,
            period_start=base.start,
            period_end=base.end,
            trigger=trigger,
            sims=sims,
            realised=base.result.realised,
            mean=base.result.mean,
            percentiles=summary(base.result),
            histogram={"counts": base.result.histogram_counts, "edges": base.result.histogram_edges},
            rollups={**rollups_for(workspace, base), "months": _months(workspace, loaded, model, base, sims, scores)},
            quarters=[_quarter_summary(base), *later],
            inputs={
                "open_deals": len(base.deal_ids),
                "deals_known": len(loaded.deal_ids),
                "scored_deals": len(scores),
                "pooled_win_rate": round(model.rates.pooled, 4),
                "recent_win_rate_level": round(model.recent_level, 3),
                "month_pace": [round(float(x), 3) for x in month_pace(workspace, loaded)],
                "arrivals_per_day": round(model.arrivals.mean, 3),
                "new_business_mean": round(base.result.new_business_mean, 2),
                "max_close_age_days": model.pooled_curve.max_close_age,
                "blend": blend_note,
            },
        )
        _store_deal_parts(run, base)
        _store_simulation(run, base, raw_totals)
        run.duration_ms = (clock.perf_counter() - started) * 1000
        run.save(update_fields=["duration_ms"])
    return run


MONTH_SIMS = 1000  # the trend's monthly points: enough for P10/P50/P90 to a couple of percent


def _months(
    workspace: Workspace,
    loaded: Any,
    model: Any,
    base: PeriodForecast,
    sims: int,
    scores: dict[int, float],
) -> list[dict[str, Any]]:
    """The period's remaining months, each simulated on its own (as the quarter is): the trend's projection.

    Each month's total includes what already closed won in it; a team's or rep's P10/P50/P90 come
    from the same simulations, keyed by their id. Not blended with the run rate (the quarter is)."""
    today = loaded.as_of.astimezone(workspace.tz).date()
    first = max(base.start, today).replace(day=1)
    out: list[dict[str, Any]] = []
    while first <= base.end:
        last = min(date(first.year + first.month // 12, first.month % 12 + 1, 1) - timedelta(days=1), base.end)
        month = forecast_period(
            workspace,
            loaded,
            model,
            max(first, base.start),
            last,
            sims=min(sims, MONTH_SIMS),
            seed=len(out) + 7,
            scores=scores,
        )
        groups = rollups_for(workspace, month)
        out.append(
            {
                "month": first.strftime("%Y-%m"),
                **{k: v for k, v in summary(month.result).items() if k in ("p10", "p50", "p90")},
                **{kind: {r["id"]: [r["p10"], r["p50"], r["p90"]] for r in groups[kind]} for kind in ("reps", "teams")},
            }
        )
        first = last + timedelta(days=1)
    return out


def _quarter_summary(forecast: PeriodForecast) -> dict[str, Any]:
    return {"start": forecast.start.isoformat(), "end": forecast.end.isoformat(), **summary(forecast.result)}


def _later_quarters_carried(workspace: Workspace, quarters: list[tuple[date, date]]) -> list[dict[str, Any]] | None:
    """The next three quarters from the latest full run, when it covers the same quarters.

    A single deal barely moves quarters that far out, so a run triggered by a deal change forecasts this
    quarter only (that is what keeps save -> stored forecast fast); scheduled and manual runs redo all four.
    """
    wanted = [(start.isoformat(), end.isoformat()) for start, end in quarters[1:]]
    latest = (
        ForecastRun.objects.for_workspace(workspace)
        .exclude(trigger=RunTrigger.DEAL_CHANGE)
        .order_by("-as_of")
        .values_list("quarters", flat=True)
        .first()
    )
    if not latest or [(q.get("start"), q.get("end")) for q in latest[1:]] != wanted:
        return None
    return [{**q, "carried_from_full_run": True} for q in latest[1:]]


def _store_deal_parts(run: ForecastRun, forecast: PeriodForecast) -> None:
    """Per-deal parts of a run, written with COPY: thousands of rows per save must not cost seconds."""
    parts = zip(
        forecast.deal_ids.tolist(),
        forecast.result.deal_probability.tolist(),
        forecast.result.deal_expected.tolist(),
        strict=True,
    )
    copy_rows(
        DealForecast,
        ("run_id", "deal_id", "probability", "expected", "confidence"),
        ((run.id, deal_id, p, e, confidence_label(p)) for deal_id, p, e in parts),
    )


SIMULATIONS_KEPT = 3  # per workspace: insights reads the latest; older runs keep their summaries only


def _store_simulation(run: ForecastRun, forecast: PeriodForecast, raw_totals: np.ndarray) -> None:
    """The run's simulations (forecasting.simulations), and those of all but the last few runs dropped."""
    result = forecast.result
    if result.outcomes is None:
        return
    stored = StoredSimulation(
        deal_ids=forecast.deal_ids,
        owner_ids=forecast.owner_ids,
        amount=result.deal_amount if result.deal_amount is not None else np.zeros(len(forecast.deal_ids)),
        probability=result.deal_probability,
        won=result.outcomes,
        totals=result.totals,
        raw_totals=raw_totals,
        new_business=result.group_new_business if result.group_new_business is not None else np.zeros(len(raw_totals)),
    )
    RunSimulation.objects.create(
        run=run,
        data=pack(stored),
        realised_by_owner={str(k): v for k, v in forecast.realised_by_owner.items()},
    )
    keep = ForecastRun.objects.for_workspace(run.workspace_id).order_by("-created_at", "-id")[:SIMULATIONS_KEPT]
    RunSimulation.objects.filter(run__workspace_id=run.workspace_id).exclude(run__in=list(keep)).delete()


@transaction.atomic
def target_set(
    *,
    scope: Scope,
    period_start: date,
    period_end: date,
    amount: Decimal,
    team: Team | None = None,
    owner: Membership | None = None,
) -> Target:
    """Set (create or replace) the target of the workspace, a team or a rep for a period.

    PermissionDenied unless `scope` may set it (owners and admins: any; managers: the teams they lead).
    """
    workspace = scope.workspace
    if team is not None and owner is not None:
        raise ValidationError("A target is for the workspace, one team or one rep, not both.")
    if period_end < period_start:
        raise ValidationError("The period ends before it starts.")
    if amount < 0:
        raise ValidationError("A target cannot be negative.")
    for related in (team, owner):
        if related is not None and related.workspace_id != workspace.id:
            raise ValidationError("That team or rep belongs to another workspace.")
    scope.require_target(team=team, rep=owner)
    target, _ = Target.objects.update_or_create(
        workspace=workspace,
        period_start=period_start,
        period_end=period_end,
        team=team,
        owner=owner,
        defaults={"amount": amount},
    )
    return target


def currency_rate_set(*, membership: Membership, currency: str, rate: Decimal) -> CurrencyRate:
    """Set how much one unit of `currency` is worth in the workspace currency (owners and admins only)."""
    require_admin(membership)
    workspace = membership.workspace
    code = (currency or "").strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise ValidationError({"currency": f"“{currency}” is not a three-letter currency code (e.g. EUR)."})
    if code == workspace.currency.upper():
        raise ValidationError({"currency": f"{code} is the workspace currency: it is always worth 1."})
    if rate is None or rate <= 0:
        raise ValidationError({"rate": "A rate must be more than 0."})
    found, _ = CurrencyRate.objects.update_or_create(
        workspace=workspace, currency=code, defaults={"rate": rate, "updated_at": timezone.now()}
    )
    return found


def currency_rate_delete(*, membership: Membership, currency: str) -> None:
    require_admin(membership)
    CurrencyRate.objects.for_workspace(membership.workspace).filter(currency=currency.strip().upper()).delete()


def target_delete(*, target: Target) -> None:
    target.delete()


ROLLING_SIMS = 2000  # per origin of a rolling backtest, as the schedule runs it


def backtest_run(
    *, workspace: Workspace, as_of: date, period_start: date, period_end: date, sims: int = DEFAULT_SIMS
) -> BacktestResult:
    """Forecast the period with only what was known at the end of `as_of`; compare with what landed.

    The forecast is the one a live forecast made that day would show: the deal model blended with the
    throughput model by what a rolling backtest run that day would have learnt (origins whose period was
    over by `as_of` only). `blend` keeps its parts: the deal model's and the throughput model's P50 and
    the weight and interval scale used."""
    if period_end < period_start:
        raise ValidationError("The period ends before it starts.")
    if period_end < as_of:
        raise ValidationError("The period must end after the as-of date.")
    moment = end_of_day(as_of, workspace)
    loaded, model = fit_as_of(workspace, moment)
    forecast = forecast_period(workspace, loaded, model, period_start, period_end, sims=sims)
    # Blended as a live forecast made that day would be: with what a rolling backtest run that day learnt.
    horizon = horizon_of(workspace, as_of, period_end)
    calibration = calibration_as_of(workspace, as_of, horizon, sims=min(sims, ROLLING_SIMS))
    forecast, note = blend_calibrated(workspace, loaded, forecast, calibration)
    actual = actual_won(workspace, period_start, period_end)
    result = forecast.result
    realised = result.realised
    # Baselines as a sales team would compute them: open pipeline x the stage's historical win rate,
    # and the revenue of the same-length period just before as_of.
    weighted = realised + _weighted_pipeline(loaded)
    length = (period_end - period_start).days + 1
    previous = _won_in(loaded, workspace, as_of - timedelta(days=length - 1), as_of)
    p50 = result.percentiles["p50"]
    values = {
        "forecast": summary(result),
        "actual": round(actual, 2),
        "abs_pct_error": round(abs(p50 - actual) / actual * 100, 2) if actual else None,
        "in_p10_p90": bool(result.percentiles["p10"] <= actual <= result.percentiles["p90"]),
        "crps": round(crps(result.totals, actual), 2),
        "baselines": {
            "weighted_pipeline": _baseline(weighted, actual),
            "last_period_run_rate": _baseline(previous, actual),
        },
        "blend": {"horizon": horizon, "applied": note is not None, **(note or calibration.__dict__)},
    }
    backtest, _ = BacktestResult.objects.update_or_create(
        workspace=workspace,
        as_of=as_of,
        period_start=period_start,
        period_end=period_end,
        defaults={"sims": sims, **values, "created_at": timezone.now()},
    )
    return backtest


def _weighted_pipeline(loaded) -> float:
    """Open amount times the plain historical win rate of deals that reached the deal's stage."""
    h = loaded.history
    decided = h.outcome != 0
    won = h.outcome == 1
    reached_won = (h.reached & won[:, None]).sum(axis=0)
    reached_decided = (h.reached & decided[:, None]).sum(axis=0)
    rate = np.where(reached_decided > 0, reached_won / np.maximum(reached_decided, 1), 0.0)
    return float(np.sum(h.amount[h.is_open] * rate[h.stage[h.is_open]]))


def _won_in(loaded, workspace: Workspace, start: date, end: date) -> float:
    return won_between(loaded, start, end, workspace.tz)


def _baseline(value: float, actual: float) -> dict[str, float | None]:
    return {
        "value": round(value, 2),
        "abs_pct_error": round(abs(value - actual) / actual * 100, 2) if actual else None,
    }


def backtest_rolling_run(
    *,
    workspace: Workspace,
    horizon: str = "this",
    first: date | None = None,
    last: date | None = None,
    sims: int = 2000,
    record_end: date | None = None,
    every: str = "month",
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Rolling-origin backtest of the workspace (see forecasting.backtest); kept per horizon for the accuracy page.

    A run restricted with `first`/`last` is printed but not kept: the page shows every origin's evidence. Nor is
    a weekly one (`every="week"`, for diagnosis): the live blend is learnt from month-ends, as `backtest_run`'s is.
    """
    if horizon not in HORIZONS:
        raise ValidationError(f"The horizon must be one of: {', '.join(HORIZONS)}.")
    if every not in EVERY:
        raise ValidationError(f"Origins are every {' or '.join(EVERY)}.")
    result = backtest_rolling(
        workspace,
        horizon=horizon,
        first=first,
        last=last,
        sims=sims,
        record_end=record_end,
        every=every,
        progress=progress,
    ).summary()
    if first is None and last is None and every == "month":
        RollingBacktest.objects.update_or_create(
            workspace=workspace,
            horizon=horizon,
            defaults={
                "sims": sims,
                "created_at": timezone.now(),
                "summary": {k: v for k, v in result.items() if k != "origins"},
                "origins": result["origins"],
            },
        )
    return result


BACKTEST_AFTER_CHANGES = 100  # deals changed at once (an import, a sync's backfill): the blend is learnt again
BACKTEST_REFRESH_TASK = "forecasting.tasks.backtest_rolling_refresh"


def backtest_rolling_request(*, workspace: Workspace) -> None:
    """Queue both horizons' rolling backtests and a forecast after them (bulk queue, coalesced per workspace)."""
    key = f"{BACKTEST_REFRESH_TASK}:{workspace.id}{BULK_KEY_SUFFIX}"
    enqueue_coalesced(key=key, func=BACKTEST_REFRESH_TASK, head_args=[workspace.id])


# ---- backtests started from the accuracy page ---------------------------------------------------------
BACKTEST_JOB_TASK = "forecasting.tasks.backtest_jobs_run"


def backtest_job_start(*, membership: Membership, horizon: str) -> BacktestJob:
    """Queue a rolling backtest (bulk queue) for the accuracy page: owners and admins, one per horizon at a time."""
    require_admin(membership)
    if horizon not in HORIZONS:
        raise ValidationError({"horizon": f"The horizon must be one of: {', '.join(HORIZONS)}."})
    workspace = membership.workspace
    busy = BacktestJob.objects.for_workspace(workspace).filter(
        horizon=horizon, status__in=[BacktestJobStatus.QUEUED, BacktestJobStatus.RUNNING]
    )
    if busy.exists():
        raise ValidationError("A backtest of this horizon is already queued or running; its progress is shown below.")
    job = BacktestJob.objects.create(workspace=workspace, horizon=horizon, requested_by=membership)
    enqueue_coalesced(key=f"forecasting.backtest:{workspace.id}", func=BACKTEST_JOB_TASK, ids=[job.id])
    return job


def backtest_job_run(*, job_id: int) -> BacktestJob | None:
    """Run one queued backtest job, telling its row the progress; a failure is kept on the row, not retried."""
    claimed = BacktestJob.objects.filter(id=job_id, status=BacktestJobStatus.QUEUED).update(
        status=BacktestJobStatus.RUNNING, started_at=timezone.now()
    )
    job = BacktestJob.objects.filter(id=job_id).select_related("workspace").first()
    if not claimed or job is None:
        return job  # already run (a re-sent task), or gone

    def progress(done: int, total: int) -> None:
        BacktestJob.objects.filter(id=job_id).update(done=done, total=total)

    try:
        result = backtest_rolling_run(workspace=job.workspace, horizon=job.horizon, progress=progress)
    except Exception as exc:  # any failure ends this job with its message; the next one may run
        BacktestJob.objects.filter(id=job_id).update(
            status=BacktestJobStatus.FAILED, finished_at=timezone.now(), error=str(exc)[:500]
        )
    else:
        BacktestJob.objects.filter(id=job_id).update(
            status=BacktestJobStatus.DONE,
            finished_at=timezone.now(),
            summary={k: v for k, v in result.items() if k != "origins"},
        )
    job.refresh_from_db()
    return job
