"""Reads that feed the insights screens, the `insights` command and the digest, always in a member's scope.

The numerical cores are plain modules (focus.py, reps.py, bottlenecks.py); these functions load the
rows they need, call them and attach the deals and names the screens show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
from django.core.cache import cache
from django.utils import timezone

from alerts.models import Alert, AlertStatus
from crm.models import Deal
from forecasting.models import ForecastRun, RunSimulation
from forecasting.selectors import target_for
from forecasting.simulations import StoredSimulation, unpack
from forecasting.waterfall import owners_for_member
from insights import bottlenecks, focus, reps
from insights.loader import DealFacts, load_deal_facts
from tenancy.models import Membership, Role, Team
from tenancy.scope import Scope

FOCUS_COUNT = 5
OPEN_ALERT_STATUSES = [AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED, AlertStatus.SNOOZED]
DECIDED_BELOW = 0.02  # a target reached in fewer (or missed in fewer) simulations than this is decided
SIMULATION_CACHE_SECONDS = 300  # a run's simulations never change; the key is the run's uuid


@dataclass(frozen=True)
class FocusDeal:
    deal: Deal
    impact: float
    reason: str
    chance_if_won: float
    chance_if_lost: float
    observed_if_won: float | None
    observed_if_lost: float | None
    spread_share: float
    probability: float
    amount: float
    open_alerts: list[str]

    @property
    def swing(self) -> float:
        return self.chance_if_won - self.chance_if_lost

    def as_json(self) -> dict[str, Any]:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 4)

        return {
            "deal": str(self.deal.uuid),
            "impact": round(self.impact, 4),
            "reason": self.reason,
            "title": self.deal.title,
            "owner": self.deal.owner.display_name if self.deal.owner else None,
            "stage": self.deal.stage.name,
            "amount": round(self.amount, 2),
            "probability": rounded(self.probability),
            "chance_if_won": rounded(self.chance_if_won),
            "chance_if_lost": rounded(self.chance_if_lost),
            "observed_if_won": rounded(self.observed_if_won),
            "observed_if_lost": rounded(self.observed_if_lost),
            "spread_share": rounded(self.spread_share),
            "open_alerts": self.open_alerts,
        }


@dataclass
class Focus:
    """The top deals of one scope, with what they were measured against."""

    run: ForecastRun | None
    scope_name: str = ""
    chance: float | None = None
    target: float | None = None
    target_note: str = ""  # set when the chance is of the likely figure (P50) rather than the target
    days_left: int = 0
    deals: list[FocusDeal] = field(default_factory=list)
    considered: int = 0

    def as_json(self) -> list[dict[str, Any]]:
        return [d.as_json() for d in self.deals]


def latest_simulated_run(workspace_id: int) -> ForecastRun | None:
    """The newest run whose simulations are stored (runs keep them for a while; see forecasting.services)."""
    return ForecastRun.objects.for_workspace(workspace_id).filter(simulation__isnull=False).first()


def _simulation(run: ForecastRun) -> tuple[StoredSimulation, dict[int, float]]:
    key = f"vos:insights:sim:{run.uuid.hex}"
    found = cache.get(key)
    if found is None:
        row = RunSimulation.objects.filter(run=run).values_list("data", "realised_by_owner").get()
        found = (bytes(row[0]), {int(k): float(v) for k, v in row[1].items()})
        cache.set(key, found, SIMULATION_CACHE_SECONDS)
    return unpack(found[0]), found[1]


def _scope_totals(
    sim: StoredSimulation, realised: dict[int, float], owners: frozenset[int] | None
) -> tuple[np.ndarray, np.ndarray]:
    """(totals, raw totals) of the scope: the run's own for the workspace; a team's or rep's summed as the
    run's roll-ups are (their deals' wins, what they already won, new business shared by expected wins)."""
    if owners is None:
        return sim.totals, sim.raw_totals
    rows = np.isin(sim.owner_ids, list(owners))
    expected = sim.probability * sim.amount
    run_owners = set(sim.owner_ids.tolist()) | set(realised)
    if expected.sum() > 0:
        share = float(expected[rows].sum() / expected.sum())
    else:
        share = len(run_owners & owners) / max(len(run_owners), 1)
    own = sim.won[rows].T.astype(np.float64) @ sim.amount[rows]
    total = own + sum(v for o, v in realised.items() if o in owners) + sim.new_business * share
    return total, total


def default_view(scope: Scope, team: Team | None, rep: Membership | None) -> tuple[Team | None, Membership | None]:
    """As on the dashboard: who does not see the whole workspace gets their own team (or themself) by default."""
    if team is None and rep is None and not scope.sees_everything and scope.membership is not None:
        if scope.membership.team is not None:
            return scope.membership.team, None
        return None, scope.membership
    return team, rep


def focus_for_member(
    scope: Scope,
    *,
    team: Team | None = None,
    rep: Membership | None = None,
    count: int = FOCUS_COUNT,
    today: date | None = None,
) -> Focus:
    """The `count` open deals that most decide whether the scope reaches its target this period.

    From the latest stored run's simulations; only deals the member may see, and the scope's total as
    the dashboard sums it (workspace, the chosen team or rep, or the member's own by default)."""
    workspace = scope.workspace
    run = latest_simulated_run(workspace.id)
    if run is None:
        return Focus(run=None)
    team, rep = default_view(scope, team, rep)
    owners = owners_for_member(scope, team=team, rep=rep)
    sim, realised = _simulation(run)
    totals, raw = _scope_totals(sim, realised, owners)
    target = target_for(workspace, run.period_start, run.period_end, team=team, owner=rep)
    result = Focus(run=run, scope_name=rep.display_name if rep else team.name if team else "Workspace", target=target)
    median = float(np.median(totals))
    if target is None:
        result.target_note = "the likely figure (P50; no target set)"
    elif not DECIDED_BELOW < float(np.mean(totals >= target)) < 1 - DECIDED_BELOW:
        # Missed (or reached) in nearly every simulation whatever one deal does: what still moves is the likely figure.
        reached = float(np.mean(totals >= target)) >= 0.5
        result.target_note = (
            f"the likely figure (P50; the target is {'all but certain' if reached else 'out of reach'})"
        )
    threshold = median if result.target_note or target is None else float(target)
    result.target = threshold
    today = today or timezone.now().astimezone(workspace.tz).date()
    result.days_left = max((run.period_end - today).days, 0)

    rows = np.arange(len(sim.deal_ids)) if owners is None else np.flatnonzero(np.isin(sim.owner_ids, list(owners)))
    visible = set(scope.deals().open().filter(id__in=sim.deal_ids[rows].tolist()).values_list("id", flat=True))
    rows = np.array([r for r in rows if int(sim.deal_ids[r]) in visible], dtype=np.intp)
    result.considered = len(rows)
    if not len(rows):
        result.chance = float(np.mean(totals >= threshold))
        return result
    impacts = focus.deal_impacts(
        won=sim.won[rows], amount=sim.amount[rows], totals=totals, raw_totals=raw, target=threshold
    )
    result.chance = impacts.chance
    ids = [int(d) for d in sim.deal_ids[rows]]
    alerts: dict[int, list[str]] = {}
    open_alerts = (
        Alert.objects.for_workspace(workspace)
        .filter(deal_id__in=ids, status__in=OPEN_ALERT_STATUSES)
        .order_by("-priority", "-score")
    )
    for alert in open_alerts:
        alerts.setdefault(alert.deal_id or 0, []).append(alert.get_kind_display())
    counts = np.array([len(alerts.get(i, [])) for i in ids])
    room = focus.room_to_act(impacts.probability, result.days_left, counts)
    scores = focus.impact_scores(impacts, room)
    chosen = focus.top(scores, count)
    deals = Deal.objects.filter(id__in=[ids[i] for i in chosen]).select_related("stage", "owner")
    by_id = {d.id: d for d in deals}
    target_label = "the likely figure (P50)" if result.target_note else "the target"
    for i in chosen:
        deal = by_id.get(ids[i])
        if deal is None:
            continue
        kinds = alerts.get(ids[i], [])
        observed_won, observed_lost = impacts.observed_if_won[i], impacts.observed_if_lost[i]
        result.deals.append(
            FocusDeal(
                deal=deal,
                impact=float(scores[i]),
                reason=focus.reason(
                    chance=impacts.chance,
                    chance_if_won=float(impacts.chance_if_won[i]),
                    chance_if_lost=float(impacts.chance_if_lost[i]),
                    spread_share=float(impacts.spread_share[i]),
                    probability=float(impacts.probability[i]),
                    target_label=target_label,
                    stage=deal.stage.name,
                    days_left=result.days_left,
                    alerts=kinds,
                ),
                chance_if_won=float(impacts.chance_if_won[i]),
                chance_if_lost=float(impacts.chance_if_lost[i]),
                observed_if_won=None if np.isnan(observed_won) else float(observed_won),
                observed_if_lost=None if np.isnan(observed_lost) else float(observed_lost),
                spread_share=float(impacts.spread_share[i]),
                probability=float(impacts.probability[i]),
                amount=float(sim.amount[rows[i]]),
                open_alerts=kinds,
            )
        )
    return result


# ---- rep insights ------------------------------------------------------------------------------------
WINDOW_DAYS = 365  # deals decided in the last year make a rep's figures


@dataclass
class RepInsights:
    member: Membership
    peers: str  # who the rep is compared with
    metrics: list[reps.RepMetric] = field(default_factory=list)

    @property
    def called_out(self) -> list[reps.RepMetric]:
        return [m for m in self.metrics if m.called_out]

    def as_json(self) -> dict[str, Any]:
        return {
            "rep": str(self.member.uuid),
            "name": self.member.display_name,
            "email": self.member.email,
            "compared_with": self.peers,
            "insights": [m.as_json() for m in self.called_out],
            "metrics": [m.as_json() for m in self.metrics],
        }


def _rep_metrics(facts: DealFacts, member: Membership, peers: np.ndarray, currency: str) -> list[reps.RepMetric]:
    mine = facts.owner == member.id
    size = reps.bands(facts.amount)
    company = reps.bands(facts.employees)
    in_window = facts.closed > -WINDOW_DAYS
    closed = (facts.outcome != 0) & in_window
    won = (facts.outcome == 1) & in_window
    cycle = facts.closed - facts.created
    out: list[reps.RepMetric] = []

    def add(key: str, comparison: reps.Comparison | None, stage: str = "") -> None:
        if comparison is not None:
            spec = reps.METRICS[key]
            out.append(reps.describe(spec, comparison, rep_name=member.display_name, stage=stage, currency=currency))

    add("win_rate", reps.share_vs_peers(facts.outcome == 1, size, mine & closed, peers & closed))
    for k, name in enumerate(facts.stage_names):
        decided, advanced, decided_at = facts.stage_decisions(k)
        decided &= decided_at > -WINDOW_DAYS
        add("conversion", reps.share_vs_peers(advanced, size, mine & decided, peers & decided), stage=name)
    add("cycle_days", reps.mean_vs_peers(cycle, size, mine & won, peers & won, seed=member.id))
    add("deal_size", reps.mean_vs_peers(facts.amount, company, mine & won, peers & won, seed=member.id + 1))
    add("slippage", reps.share_vs_peers(facts.slipped, size, mine & closed, peers & closed))
    per_month = facts.activities / np.maximum(np.nan_to_num(cycle, nan=1.0), 7.0) * 30.0
    add("activity", reps.mean_vs_peers(per_month, size, mine & closed, peers & closed, seed=member.id + 2))
    return out


def rep_insights_for_member(
    scope: Scope,
    *,
    team: Team | None = None,
    rep: Membership | None = None,
    now: datetime | None = None,
    facts: DealFacts | None = None,
) -> list[RepInsights]:
    """Each rep in view against their team (the rest of it, at the rep's deal mix), from deals in the member's sight.

    Coaching is between a rep and their manager: a rep gets their own figures only; a manager those of the
    teams they lead; owners, admins and viewers everyone's."""
    facts = load_deal_facts(scope, now or timezone.now()) if facts is None else facts
    if facts is None or not len(facts):
        return []
    members = scope.reps().filter(id__in=set(facts.owner.tolist()))
    if scope.membership is not None and scope.membership.role == Role.REP:
        members = members.filter(id=scope.membership.id)
    if rep is not None:
        members = members.filter(id=rep.id)
    elif team is not None:
        members = members.filter(team=team)
    currency = scope.workspace.currency
    out = []
    for member in members.select_related("team"):
        others = facts.owner != member.id
        peers = others & (facts.team == member.team_id) if member.team_id else others
        label = member.team.name if member.team_id and member.team else "the workspace"
        if int(peers.sum()) < reps.MIN_DEALS:
            peers, label = others, "the workspace"
        out.append(RepInsights(member=member, peers=label, metrics=_rep_metrics(facts, member, peers, currency)))
    return out


# ---- bottlenecks -------------------------------------------------------------------------------------
STUCK_LISTED = 10


@dataclass(frozen=True)
class StuckDeal:
    deal: Deal
    days_in_stage: float
    amount: float


@dataclass
class Bottleneck:
    stage: str
    finding: bottlenecks.Finding
    text: str
    stuck_after_days: float | None
    stuck: list[StuckDeal]
    stuck_count: int
    revenue_held_up: float

    def as_json(self) -> dict[str, Any]:
        f = self.finding
        return {
            "stage": self.stage,
            "metric": f.metric,
            "recent": round(f.recent, 4),
            "earlier": round(f.earlier, 4),
            "recent_n": f.recent_n,
            "earlier_n": f.earlier_n,
            "p_value": round(f.p_value, 5),
            "text": self.text,
            "stuck_after_days": None if self.stuck_after_days is None else round(self.stuck_after_days, 1),
            "stuck_count": self.stuck_count,
            "revenue_held_up": round(self.revenue_held_up, 2),
            "stuck": [
                {"deal": str(s.deal.uuid), "title": s.deal.title, "days_in_stage": round(s.days_in_stage, 1),
                 "amount": round(s.amount, 2)}
                for s in self.stuck
            ],
        }  # fmt: skip


def stage_evidence(facts: DealFacts, k: int, owners: np.ndarray) -> bottlenecks.StageWindows:
    """Stage k's decisions (moved on or lost from it, and when) and ended stays, for the deals in `owners`."""
    decided, advanced, decided_at = facts.stage_decisions(k)
    decided &= owners
    stayed = owners & ~np.isnan(facts.entered[:, k]) & ~np.isnan(facts.left[:, k])
    return bottlenecks.StageWindows(
        advanced=advanced[decided],
        decided_at=decided_at[decided],
        stay_days=(facts.left[:, k] - facts.entered[:, k])[stayed],
        stay_ended_at=facts.left[:, k][stayed],
    )


def bottlenecks_for_member(
    scope: Scope,
    *,
    team: Team | None = None,
    rep: Membership | None = None,
    now: datetime | None = None,
    facts: DealFacts | None = None,
) -> list[Bottleneck]:
    """Stages that got worse for the deals in view, with the open deals stuck there and the revenue they hold."""
    facts = load_deal_facts(scope, now or timezone.now()) if facts is None else facts
    if facts is None or not len(facts):
        return []
    owner_ids = owners_for_member(scope, team=team, rep=rep)
    owners = np.ones(len(facts), dtype=bool) if owner_ids is None else np.isin(facts.owner, list(owner_ids))
    found: list[Bottleneck] = []
    for k, name in enumerate(facts.stage_names):
        evidence = stage_evidence(facts, k, owners)
        findings = bottlenecks.stage_findings(evidence, stages=facts.n_stages)
        if not findings:
            continue
        after = bottlenecks.stuck_after(evidence)
        sitting = owners & (facts.current_rank == k)
        days_in = -facts.in_stage_since
        stuck_rows = np.flatnonzero(sitting & (days_in > after)) if after is not None else np.array([], dtype=np.intp)
        stuck_rows = stuck_rows[np.argsort(-facts.amount[stuck_rows], kind="stable")]
        listed = stuck_rows[:STUCK_LISTED]
        deals = {d.id: d for d in Deal.objects.filter(id__in=facts.ids[listed].tolist()).select_related("owner")}
        stuck = [
            StuckDeal(deals[int(facts.ids[i])], float(days_in[i]), float(facts.amount[i]))
            for i in listed
            if int(facts.ids[i]) in deals
        ]
        held = float(facts.amount[stuck_rows].sum())
        for finding in findings:
            found.append(
                Bottleneck(
                    stage=name,
                    finding=finding,
                    text=bottlenecks.describe(finding, name),
                    stuck_after_days=after,
                    stuck=stuck,
                    stuck_count=len(stuck_rows),
                    revenue_held_up=held,
                )
            )
    return found


def insights_page(scope: Scope, *, team: Team | None, rep: Membership | None) -> dict[str, Any]:
    """Everything the insights page shows for the team or rep chosen (the member's own view by default)."""
    team, rep = default_view(scope, team, rep)
    facts = load_deal_facts(scope, timezone.now())
    return {
        "focus": focus_for_member(scope, team=team, rep=rep),
        "rep_insights": rep_insights_for_member(scope, team=team, rep=rep, facts=facts),
        "bottlenecks": bottlenecks_for_member(scope, team=team, rep=rep, facts=facts),
    }


def focus_for_digest(member: Membership, today: date) -> Focus:
    """The weekly digest's five deals: a rep's own, anyone else's usual view (as on the forecast page)."""
    scope = Scope.for_member(member)
    rep = member if member.role == Role.REP else None
    return focus_for_member(scope, rep=rep, today=today)
