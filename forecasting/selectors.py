"""Reads that feed the forecasting screens."""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from crm import history
from crm.models import Deal, DealHistory, DealQuerySet, Outcome, Stage, StageKind, TrackedField
from forecasting import charts, quota
from forecasting import coverage as coverage_rules
from forecasting.compute import WhatIf, fit_as_of, forecast_period, summary
from forecasting.currency import converted_amount, unconverted
from forecasting.models import BacktestResult, DealForecast, ForecastRun, Target
from forecasting.waterfall import owners_for_member
from tenancy.models import Membership, Team, Workspace
from tenancy.scope import Scope


def latest_run(workspace: Workspace) -> ForecastRun | None:
    return ForecastRun.objects.for_workspace(workspace).first()


def target_for(workspace: Workspace, start: date, end: date, *, team: Team | None = None, owner=None) -> float | None:
    found = (
        Target.objects.for_workspace(workspace)
        .filter(period_start=start, period_end=end, team=team, owner=owner)
        .values_list("amount", flat=True)
        .first()
    )
    return float(found) if found is not None else None


WHAT_IF_SIMS = 4000  # a scenario is answered while the user waits
# The same scenario against the same run is answered from the shared cache: a page reload or a second member
# asking does not refit. A new run (after any deal change) has a new id, so a stale answer is never reused.
WHAT_IF_CACHE_SECONDS = 600


def _what_if_cache_key(run: ForecastRun, what_if: WhatIf, sims: int) -> str:
    scenario = (
        sorted(what_if.exclude_deal_ids),
        sorted(what_if.slip_days.items()),
        what_if.win_rate_scale,
        what_if.add_reps,
        what_if.ramp_days,
    )
    return "vos:what-if:" + hashlib.sha256(repr((run.uuid.hex, sims, scenario)).encode()).hexdigest()


def what_if_forecast(
    workspace: Workspace, run: ForecastRun, what_if: WhatIf, sims: int | None = None
) -> dict[str, float]:
    """The run's period under a scenario, as of now; nothing is stored (but the answer is cached a while)."""
    sims = sims or WHAT_IF_SIMS
    key = _what_if_cache_key(run, what_if, sims)
    cached: dict[str, float] | None = cache.get(key)
    if cached is not None:
        return cached
    loaded, model = fit_as_of(workspace, timezone.now())
    forecast = forecast_period(workspace, loaded, model, run.period_start, run.period_end, sims=sims, what_if=what_if)
    result = summary(forecast.result)
    cache.set(key, result, WHAT_IF_CACHE_SECONDS)
    return result


def what_if_scenario(workspace: Workspace, run: ForecastRun, what_if: WhatIf) -> dict[str, Any]:
    """The run's period under a scenario, as of now, for the workspace and each team and rep (same simulations).

    `{"workspace": {...}, "teams": [...], "reps": [...]}`, each with p10/p50/p90 and all 101 percentiles
    (`q`), so the dashboard sets it beside the base for the scope it shows. Nothing is stored."""
    from forecasting.services import rollups_for  # a pure summary of the simulations; services import selectors

    key = _what_if_cache_key(run, what_if, WHAT_IF_SIMS) + ":rollups"
    cached: dict[str, Any] | None = cache.get(key)
    if cached is not None:
        return cached
    loaded, model = fit_as_of(workspace, timezone.now())
    forecast = forecast_period(
        workspace, loaded, model, run.period_start, run.period_end, sims=WHAT_IF_SIMS, what_if=what_if
    )
    result = rollups_for(workspace, forecast)
    cache.set(key, result, WHAT_IF_CACHE_SECONDS)
    return result


WHAT_IF_MATCHES = 12


def what_if_matches(scope: Scope, query: str) -> tuple[list[Deal], str]:
    """Open deals in the member's sight whose title or company contains `query`, and a note when there are none."""
    if len(query) < 2:
        return [], "Type at least two letters of a deal's title or company."
    found = list(
        scope.deals()
        .open()
        .filter(Q(title__icontains=query) | Q(company__name__icontains=query))
        .select_related("company", "owner")
        .order_by("-amount", "title")[:WHAT_IF_MATCHES]
    )
    return found, "" if found else f"No open deal you can see matches “{query}”."


def what_if_picked(scope: Scope, picked: dict[str, list[str]]) -> list[dict[str, object]]:
    """The deals already ticked (left out or slipped), among those in sight, to show them ticked again."""
    wanted = {u for ids in picked.values() for u in ids}
    if not wanted:
        return []
    deals = scope.deals().open().filter(uuid__in=wanted).select_related("company")
    return [
        {"deal": d, "exclude": str(d.uuid) in picked.get("exclude", []), "slip": str(d.uuid) in picked.get("slip", [])}
        for d in deals
    ]


def chance_of_reaching(quantiles: list[float] | None, target: float) -> float | None:
    """P(revenue >= target) from a run's stored percentiles 0..100 (the same simulations)."""
    if not quantiles or len(quantiles) != 101:
        return None
    q = np.asarray(quantiles, dtype=float)
    if target <= q[0]:
        return 1.0
    if target > q[-1]:
        return 0.0
    # Percentiles can repeat (a point mass, e.g. nothing won): take the last level still below target.
    below = np.searchsorted(q, target, side="left")
    lo, hi = q[below - 1], q[below]
    level = below - 1 + ((target - lo) / (hi - lo) if hi > lo else 1.0)
    return float(np.clip(1.0 - level / 100.0, 0.0, 1.0))


# A team or rep the run has no row for (no deals then) forecasts nothing, not the workspace's numbers.
NOTHING_FORECAST: dict[str, Any] = {"p10": 0.0, "p50": 0.0, "p90": 0.0, "mean": 0.0, "q": [0.0] * 101}


def _owner_filter(qs, owner_ids: frozenset[int] | None):
    return qs if owner_ids is None else qs.filter(owner_id__in=owner_ids)


def _owners_shown(scope: Scope, team: Team | None, rep: Membership | None) -> frozenset[int] | None:
    """Owners whose deals the dashboard sums: the chosen team or rep, never beyond the member's scope."""
    return owners_for_member(scope, team=team, rep=rep)


def team_rollups(scope: Scope, run: ForecastRun) -> list[dict[str, object]]:
    """The run's "By team" rows for the teams in the member's scope."""
    rows = run.rollups.get("teams", [])
    if scope.team_ids is None:
        return rows
    shown = {u.hex for u in scope.teams().values_list("uuid", flat=True)}
    return [row for row in rows if row["id"] in shown]


def dashboard(
    scope: Scope,
    run: ForecastRun,
    *,
    team: Team | None,
    rep: Membership | None,
    scenario: dict[str, Any] | None = None,
) -> dict[str, object]:
    """Numbers and the six figures of the forecast dashboard."""
    workspace = scope.workspace
    if (team is not None and not scope.can_see_team(team)) or (rep is not None and not scope.can_see_rep(rep)):
        raise ValueError("The dashboard was asked for a team or rep outside the member's scope.")
    if team is None and rep is None and not scope.sees_everything and scope.membership is not None:
        # Who does not see the whole workspace gets their own team's numbers (or their own), not the workspace's.
        if scope.membership.team is not None:
            team = scope.membership.team
        else:
            rep = scope.membership
    owner_ids = _owners_shown(scope, team, rep)
    currency = workspace.currency
    pct = run.percentiles
    scope_name = "Workspace"
    if rep is not None:
        pct = next((r for r in run.rollups.get("reps", []) if r["id"] == rep.uuid.hex), NOTHING_FORECAST)
        scope_name = rep.display_name
    elif team is not None:
        pct = next((t for t in run.rollups.get("teams", []) if t["id"] == team.uuid.hex), NOTHING_FORECAST)
        scope_name = team.name
    target = target_for(workspace, run.period_start, run.period_end, team=team, owner=rep)
    open_deals = _owner_filter(scope.deals().open(), owner_ids)
    value = converted_amount(workspace)
    open_value = float(open_deals.aggregate(v=Sum(value))["v"] or 0)
    realised = float(
        _owner_filter(scope.deals(), owner_ids)
        .filter(outcome=Outcome.WON, closed_at__date__gte=run.period_start, closed_at__date__lte=run.period_end)
        .aggregate(v=Sum(value))["v"]
        or 0
    )
    # One definition of coverage everywhere (forecasting.coverage): pipeline closing by the period's end.
    coverage = coverage_rules.coverage_ratio(
        open_pipeline=quota.open_pipeline_closing(open_deals, run.period_end), target=target, won=realised
    )
    coverage = None if coverage == float("inf") else coverage
    chance = None
    if target is not None:
        shown = pct if (rep is not None or team is not None) else run.rollups.get("workspace", {})
        chance = chance_of_reaching(shown.get("q"), target)

    compared = None
    if scenario is not None:
        # The scenario for the same workspace, team or rep as the base beside it.
        found: dict[str, Any] | None
        if rep is not None:
            found = next((r for r in scenario.get("reps", []) if r["id"] == rep.uuid.hex), None)
        elif team is not None:
            found = next((t for t in scenario.get("teams", []) if t["id"] == team.uuid.hex), None)
        else:
            found = scenario.get("workspace")
        scenario = found or NOTHING_FORECAST
        compared = _comparison(pct, scenario, chance, target)
    scenarios = [("Base", pct)] + ([("What-if", scenario)] if scenario else [])

    months_qs = (
        _owner_filter(scope.deals(), owner_ids)
        .filter(outcome=Outcome.WON, closed_at__isnull=False)
        .annotate(m=TruncMonth("closed_at"))
        .values("m")
        .annotate(v=Sum(value))
        .order_by("-m")[:12]
    )
    month_rows = sorted((r["m"].date(), float(r["v"])) for r in months_qs)
    months = [m.strftime("%Y-%m") for m, _ in month_rows]
    actuals = [v for _, v in month_rows]
    projection = _projection(run, pct, realised, team=team, rep=rep)

    stages = list(Stage.objects.for_workspace(workspace).filter(pipeline__is_default=True).order_by("order"))
    open_by_stage = dict(open_deals.values_list("stage_id").annotate(v=Sum(value)))
    open_stages = [s for s in stages if s.kind == StageKind.OPEN and open_by_stage.get(s.id)]

    bands = ["high", "medium", "low", "unlikely"]
    band_rows = {
        r["confidence"]: r
        for r in _owner_filter_deals(DealForecast.objects.filter(run=run), owner_ids)
        .values("confidence")
        .annotate(v=Sum(converted_amount(workspace, "deal__")), n=Count("id"))
    }
    funnel_names, funnel_counts, funnel_days = stage_funnel_cached(workspace, stages, owner_ids)
    return {
        "pct": pct,
        "scope_name": scope_name,
        "target": target,
        "realised": realised,
        "open_value": open_value,
        "coverage": coverage,
        "coverage_definition": coverage_rules.COVERAGE_DEFINITION,
        "chance": chance,
        "scenario": scenario,
        "compared": compared,
        "unconverted": unconverted(workspace, open_deals),
        "team_rollups": team_rollups(scope, run),
        "charts": {
            "scenarios": charts.scenario_bars(scenarios, target, currency),
            "distribution": (
                charts.distributions_compared(
                    [("Base", _base_quantiles(run, pct)), ("What-if", list(scenario.get("q") or []))], target, currency
                )
                if scenario
                else charts.distribution(*_distribution(run, pct), target, currency)
            ),
            "trend": charts.revenue_trend(months, actuals, projection, currency),
            "stages": charts.pipeline_by_stage(
                [s.name for s in open_stages], [float(open_by_stage[s.id]) for s in open_stages], currency
            ),
            "health": charts.pipeline_health(
                bands,
                [float(band_rows.get(b, {}).get("v") or 0) for b in bands],
                [int(band_rows.get(b, {}).get("n") or 0) for b in bands],
                currency,
            ),
            "funnel": charts.funnel(funnel_names, funnel_counts, funnel_days),
        },
    }


def _base_quantiles(run: ForecastRun, pct: dict[str, Any]) -> list[float]:
    if pct is run.percentiles:
        return list(run.rollups.get("workspace", {}).get("q") or [])
    return list(pct.get("q") or [])


def _comparison(
    base: dict[str, Any], scenario: dict[str, Any], chance: float | None, target: float | None
) -> list[dict[str, object]]:
    """The what-if table: P10, P50, P90 and the chance of target, base beside scenario, with the difference."""
    rows: list[dict[str, object]] = []
    for key, name in (("p10", "Worst (P10)"), ("p50", "Likely (P50)"), ("p90", "Best (P90)")):
        b, s = float(base.get(key, 0.0)), float(scenario.get(key, 0.0))
        rows.append({"name": name, "base": b, "scenario": s, "difference": s - b, "money": True})
    if target is not None:
        after = chance_of_reaching(scenario.get("q"), target)
        rows.append(
            {
                "name": "Chance of target",
                "base": chance,
                "scenario": after,
                "difference": None if after is None or chance is None else after - chance,
                "money": False,
            }
        )
    return rows


def _distribution(run: ForecastRun, pct: dict[str, Any]) -> tuple[dict[str, list[float]], dict[str, float]]:
    """The histogram and percentiles the distribution chart shows: the run's own, or a team's or rep's.

    A team or rep has no stored histogram, only its 101 percentiles from the same simulations; each
    one percent of simulations lies between two neighbours, which re-bins into equal-width bars.
    """
    q = pct.get("q")
    if pct is run.percentiles or not q:
        return run.histogram, run.percentiles
    levels = np.arange(len(q)) / (len(q) - 1)
    lo, hi = float(q[0]), float(q[-1])
    if hi <= lo:
        return {"edges": [lo - 0.5, lo + 0.5], "counts": [1.0]}, pct
    edges = np.linspace(lo, hi, DISTRIBUTION_BINS + 1)
    counts = np.diff(np.interp(edges, np.asarray(q, dtype=float), levels))
    return {"edges": edges.tolist(), "counts": counts.tolist()}, pct


DISTRIBUTION_BINS = 40


def _owner_filter_deals(qs, owner_ids: frozenset[int] | None):
    return qs if owner_ids is None else qs.filter(deal__owner_id__in=owner_ids)


def _projection(
    run: ForecastRun, pct: dict[str, float], realised: float, *, team: Team | None, rep: Membership | None
) -> list[tuple[str, float, float, float]]:
    """The period's remaining months, each month's P10/P50/P90 from its own simulations (stored with the run)
    for the workspace, the team or the rep shown. Runs stored before months were simulated spread the
    period's remaining forecast evenly over its months."""
    stored = run.rollups.get("months")
    if stored:
        if rep is not None or team is not None:
            kind, key = ("reps", rep.uuid.hex) if rep is not None else ("teams", team.uuid.hex)  # type: ignore[union-attr]
            return [(m["month"], *m[kind].get(key, (0.0, 0.0, 0.0))) for m in stored]
        return [(m["month"], m["p10"], m["p50"], m["p90"]) for m in stored]
    months = []
    day = run.period_start.replace(day=1)
    while day <= run.period_end:
        months.append(day.strftime("%Y-%m"))
        day = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    as_of_month = run.as_of.strftime("%Y-%m")
    future = [m for m in months if m >= as_of_month] or months[-1:]
    share = 1 / len(future)
    rest = {k: max(float(pct[k]) - realised, 0.0) * share for k in ("p10", "p50", "p90")}
    return [(m, rest["p10"], rest["p50"], rest["p90"]) for m in future]


FUNNEL_CACHE_SECONDS = 3600
FUNNEL_FIELDS = (TrackedField.STAGE, TrackedField.OWNER, TrackedField.DELETED)  # what `stage_funnel` depends on


def stage_funnel_cached(workspace: Workspace, stages: list[Stage], owner_ids: frozenset[int] | None):
    """`stage_funnel` from the shared cache while nothing it reads changed: it reads every stage change of the
    workspace (~75 ms on the demo), and a dashboard under load asks for the same funnel again and again.

    It reads the stage rows of deals not deleted, by owner: every stage move, owner change, deletion and restore
    writes a history row of its field (a new deal its stage row), so the newest row of those fields is the key.
    Amount and date edits, the most frequent, leave the funnel and its key as they were."""
    rows = DealHistory.objects.for_workspace(workspace).order_by("-id").values_list("id", flat=True)
    first, *rest = (rows.filter(field=field)[:1] for field in FUNNEL_FIELDS)  # one index probe each
    newest = max(first.union(*rest, all=True), default=None)
    owners = "all" if owner_ids is None else ",".join(map(str, sorted(owner_ids)))
    parts = [workspace.id, [(s.id, s.name, s.kind) for s in stages], owners, newest]
    key = "funnel:" + hashlib.sha256(repr(parts).encode()).hexdigest()
    found = cache.get(key)
    if found is None:
        found = stage_funnel(workspace, stages, owner_ids)
        cache.set(key, found, FUNNEL_CACHE_SECONDS)
    return found


def stage_funnel(workspace: Workspace, stages: list[Stage], owner_ids: frozenset[int] | None):
    """Deals that reached each open stage and Won, in pipeline order, from their stage history; median days in each.

    A deal reached a stage when its history has that stage or a later one of the funnel (an open stage
    further on, or Won): a deal that skipped a stage went past it. Lost stages are not in the funnel and
    lift nothing, so a deal lost from Prospecting reached Prospecting only. Counted this way the shares
    can only fall from one stage to the next.
    """
    open_stages = [s for s in stages if s.kind == StageKind.OPEN]
    won_stage = next((s for s in stages if s.kind == StageKind.WON), None)
    shown = [*open_stages, *([won_stage] if won_stage else [])]
    rank = {s.id: i for i, s in enumerate(shown)}
    known = {s.id for s in stages}
    rows = (
        DealHistory.objects.for_workspace(workspace)
        .filter(field=TrackedField.STAGE, deal__deleted_at__isnull=True)
        .values_list("deal_id", "new_value", "changed_at")
        .order_by("deal_id", *history.EARLIEST_FIRST)
    )
    if owner_ids is not None:
        rows = rows.filter(deal__owner_id__in=owner_ids)
    furthest: dict[int, int] = {}
    durations: dict[int, list[float]] = defaultdict(list)
    last: dict[int, tuple[int, datetime]] = {}
    for deal_id, value, at in rows:
        stage_id = history.decode(TrackedField.STAGE, value)
        if stage_id not in known:
            continue
        if deal_id in last:
            prev_stage, prev_at = last[deal_id]
            if prev_stage != stage_id:
                durations[prev_stage].append((at - prev_at).total_seconds() / 86400)
        if deal_id not in last or last[deal_id][0] != stage_id:
            last[deal_id] = (stage_id, at)
        if stage_id in rank:
            furthest[deal_id] = max(furthest.get(deal_id, -1), rank[stage_id])
    counts = [sum(1 for f in furthest.values() if f >= i) for i in range(len(shown))]
    days = [float(np.median(durations[s.id])) if durations.get(s.id) else None for s in shown]
    return [s.name for s in shown], counts, days


def past_runs_vs_actuals(workspace: Workspace, limit: int = 60) -> list[dict[str, object]]:
    """Past runs of periods that are over, each beside what actually landed."""
    today = timezone.now().astimezone(workspace.tz).date()
    runs = list(ForecastRun.objects.for_workspace(workspace).filter(period_end__lt=today)[:limit])
    actual_cache: dict[tuple[date, date], float] = {}
    out = []
    for run in runs:
        key = (run.period_start, run.period_end)
        if key not in actual_cache:
            actual_cache[key] = float(
                Deal.objects.for_workspace(workspace)
                .filter(outcome=Outcome.WON, closed_at__date__gte=key[0], closed_at__date__lte=key[1])
                .aggregate(v=Sum(converted_amount(workspace)))["v"]
                or 0
            )
        actual = actual_cache[key]
        out.append({"run": run, "actual": actual, "inside": run.p10 <= actual <= run.p90})
    return out


def backtests(workspace: Workspace) -> dict[str, object]:
    rows = list(BacktestResult.objects.for_workspace(workspace))
    errors = [r.abs_pct_error for r in rows if r.abs_pct_error is not None]
    signed = [(r.forecast.get("p50", 0) - r.actual) / r.actual * 100 for r in rows if r.actual]
    return {
        "rows": rows,
        "coverage": (sum(r.in_p10_p90 for r in rows) / len(rows)) if rows else None,
        "mean_abs_pct_error": float(np.mean(errors)) if errors else None,
        "bias_pct": float(np.mean(signed)) if signed else None,
    }


def what_if_build(
    *,
    deals: DealQuerySet,
    exclude: Sequence[uuid.UUID | str] = (),
    slip: Sequence[uuid.UUID | str] = (),
    slip_days: int | None = None,
    win_rate_scale: float | None = None,
    add_reps: int | None = None,
    ramp_days: int | None = None,
) -> WhatIf:
    """The scenario asked for, with deal ids resolved among `deals` (what the asker may see).

    The web form and the API both call this, so both refuse the same ids with the same message: one
    that is unknown, another tenant's, hidden from the asker or already closed is "not an open deal you
    can see" (one message, so nobody learns which hidden ids exist). Raises ValidationError by field.
    """
    wanted = {str(u) for u in (*exclude, *slip)}
    open_ids = (
        {str(u): pk for u, pk in deals.open().filter(uuid__in=wanted).values_list("uuid", "id")} if wanted else {}
    )
    errors = {}
    for field, uuids in (("exclude", exclude), ("slip", slip)):
        bad = list(dict.fromkeys(str(u) for u in uuids if str(u) not in open_ids))
        if bad:
            more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
            errors[field] = f"Not an open deal you can see: {', '.join(bad[:5])}{more}."
    if errors:
        raise ValidationError(errors)
    days = 30 if slip_days is None else slip_days
    return WhatIf(
        exclude_deal_ids=frozenset(open_ids[str(u)] for u in exclude),
        slip_days={open_ids[str(u)]: days for u in slip},
        win_rate_scale=win_rate_scale or 1.0,
        add_reps=add_reps or 0,
        ramp_days=ramp_days or 90,
    )
