"""Loads a workspace's deals as they stood at a moment into the plain arrays the model fits on.

Only what was known at `as_of` is used (crm.selectors.pipeline_as_of and history rows up to then),
so the same code serves live forecasts and backtests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
from django.db.models.expressions import RawSQL

from crm import history as deal_history
from crm.models import Deal, DealHistory, Outcome, Stage, StageKind, TrackedField
from crm.selectors import DealSnapshot, pipeline_as_of
from forecasting.currency import convert_snapshots
from forecasting.model import History
from forecasting.survival import CENSORED, LOST, WON
from tenancy.models import Membership, Team, Workspace

DAY = 86400.0
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
MAX_SLIPS_KEPT = 4  # more pushes than this say nothing new


@dataclass(frozen=True)
class LoadedHistory:
    history: History
    deal_ids: np.ndarray
    owner_ids: np.ndarray  # membership id per deal, 0 when none
    snapshots: list[DealSnapshot]
    stage_ids: list[int]  # open stage id per stage index
    team_ids: list[int | None]  # team id per team index (None = no team)
    as_of: datetime


def _days(moment: datetime, as_of: datetime) -> float:
    return (moment - as_of).total_seconds() / DAY


# A live re-forecast (as of now) after a save reuses the previous live run's snapshots of the deals that did not
# change since (this process, this workspace): folding every deal's history again was most of its CPU. A deal
# counts as changed when its row or a history row of it was written within CHANGE_SLACK before the previous run
# (a transaction still open then commits later); every LIVE_FULL_EVERY all deals are folded again.
CHANGE_SLACK = timedelta(seconds=60)
LIVE_FULL_EVERY = 60.0  # seconds


@dataclass
class _LiveSnapshots:
    key: tuple[int, str]  # the workspace's id and uuid
    as_of: datetime
    folded_at: float  # time.monotonic() of the last full fold
    by_id: dict[int, DealSnapshot]


_live: dict[int, _LiveSnapshots] = {}
_live_lock = threading.Lock()


def _moved(snapshot: DealSnapshot, as_of: datetime) -> DealSnapshot:
    """`dataclasses.replace(snapshot, as_of=as_of)` without its per-field work: thousands per re-forecast."""
    moved = object.__new__(DealSnapshot)
    moved.__dict__.update(snapshot.__dict__, as_of=as_of)
    return moved


def live_pipeline(workspace: Workspace, as_of: datetime, *, changed_ids: Iterable[int] = ()) -> list[DealSnapshot]:
    """`pipeline_as_of(workspace, as_of)` for a live run: the same snapshots, folded again only for changed deals.

    `changed_ids`: deals known to have changed (a deal-change handler's ids), folded again whatever their dates say
    (an import writes history dated in the past)."""
    key = (workspace.id, str(workspace.uuid))
    with _live_lock:
        last = _live.get(workspace.id)
    if last is None or last.key != key or as_of < last.as_of or time.monotonic() - last.folded_at > LIVE_FULL_EVERY:
        snapshots = pipeline_as_of(workspace, as_of)
        entry = _LiveSnapshots(key, as_of, time.monotonic(), {s.id: s for s in snapshots})
    else:
        deals = Deal.objects.for_workspace(workspace).filter(created_at__lte=as_of)
        since = last.as_of - CHANGE_SLACK
        current = set(deals.values_list("id", flat=True))
        changed = set(deals.filter(updated_at__gte=since).values_list("id", flat=True)) | set(changed_ids)
        changed |= set(
            DealHistory.objects.for_workspace(workspace).filter(changed_at__gte=since).values_list("deal_id", flat=True)
        )
        again = sorted((current - last.by_id.keys()) | (changed & current))
        by_id = {i: _moved(s, as_of) for i, s in last.by_id.items() if i in current and i not in again}
        by_id.update((s.id, s) for s in (pipeline_as_of(workspace, as_of, deal_ids=again) if again else ()))
        snapshots = sorted(by_id.values(), key=lambda s: s.id)
        entry = _LiveSnapshots(key, as_of, last.folded_at, by_id)
    with _live_lock:
        _live[workspace.id] = entry
    return snapshots


def load_history(
    workspace: Workspace, as_of: datetime, *, live: bool = False, changed_ids: Iterable[int] = ()
) -> LoadedHistory:
    """`live`: as_of is now (a re-forecast), whose deal snapshots `live_pipeline` keeps between runs."""
    snapshots = live_pipeline(workspace, as_of, changed_ids=changed_ids) if live else pipeline_as_of(workspace, as_of)
    # Amounts in the workspace currency (the admins' rates table), for the engine and every sum of won revenue.
    snapshots = convert_snapshots(workspace, snapshots)
    stages = list(
        Stage.objects.for_workspace(workspace)
        .order_by("pipeline_id", "order")
        .values("id", "pipeline_id", "order", "kind")
    )
    open_stages = [s for s in stages if s["kind"] == StageKind.OPEN]
    stage_index = {s["id"]: i for i, s in enumerate(open_stages)}
    stage_pipeline = np.array([s["pipeline_id"] for s in open_stages] or [0])
    stage_order = np.array([s["order"] for s in open_stages] or [0])
    n_stages = max(len(open_stages), 1)
    # Per open stage: the stages a deal passes by reaching it (its pipeline's, up to its order), as plain indices.
    passes = [
        np.flatnonzero((stage_pipeline == stage_pipeline[s]) & (stage_order <= stage_order[s])).tolist()
        for s in range(len(open_stages))
    ]

    owner_team = dict(Membership.objects.for_workspace(workspace).values_list("id", "team_id"))
    team_ids: list[int | None] = [None, *Team.objects.filter(workspace=workspace).values_list("id", flat=True)]
    team_index = {t: i for i, t in enumerate(team_ids)}

    # First time each deal entered each open stage, up to as_of.
    visits: dict[int, list[tuple[float, int]]] = {}
    rows = (
        DealHistory.objects.for_workspace(workspace)
        .filter(changed_at__lte=as_of, field=TrackedField.STAGE)
        # The stage id and the moment as plain numbers straight from SQL: parsing thousands of JSON
        # values and timestamps in Python is most of a live re-forecast's load time.
        .annotate(
            stage_ref=RawSQL(deal_history.sql_value(TrackedField.STAGE, "new_value"), ()),  # noqa: S611 (constant SQL)
            epoch=RawSQL("EXTRACT(EPOCH FROM changed_at)::float8", ()),
        )
        .values_list("deal_id", "stage_ref", "epoch")
        .order_by()
    )
    as_of_epoch = as_of.timestamp()
    for deal_id, stage_id, epoch in rows:
        if stage_id in stage_index:
            visits.setdefault(deal_id, []).append(((epoch - as_of_epoch) / DAY, stage_index[stage_id]))

    # Close-date slips: every push of the expected close date to a later day, up to as_of.
    slip_times: dict[int, list[float]] = {}
    close_date = TrackedField.EXPECTED_CLOSE_DATE
    slip_rows = (
        DealHistory.objects.for_workspace(workspace)
        .filter(changed_at__lte=as_of, field=close_date, old_value__isnull=False)
        # Both dates decoded and the moment in whole microseconds by SQL (as for the stage rows above): the same
        # values `crm.history.decode` and `_days` give, without parsing JSON and timestamps in Python.
        .annotate(
            old_day=RawSQL(deal_history.sql_value(close_date, "old_value"), ()),  # noqa: S611 (constant SQL)
            new_day=RawSQL(deal_history.sql_value(close_date, "new_value"), ()),  # noqa: S611 (constant SQL)
            micros=RawSQL("(EXTRACT(EPOCH FROM changed_at) * 1000000)::bigint", ()),
        )
        .values_list("deal_id", "old_day", "new_day", "micros")
        .order_by()
    )
    as_of_micros = (as_of - _EPOCH) // _MICROSECOND
    for deal_id, old, new, micros in slip_rows:
        if old is not None and new is not None and new > old:
            # What `_days` gives: timedelta.total_seconds() is the exact microseconds over 10**6.
            slip_times.setdefault(deal_id, []).append((micros - as_of_micros) / 10**6 / DAY)

    n = len(snapshots)
    # Filled as plain lists (one NumPy write per deal and field was much of a re-forecast's load time).
    created_l: list[float] = []
    closed_l: list[float] = []
    outcome_l: list[int] = []
    amount_l: list[float] = []
    stage_l: list[int] = []
    entered_age_l: list[int] = []
    team_l: list[int] = []
    deal_ids_l: list[int] = []
    owner_ids_l: list[int] = []
    reached = np.zeros((n, n_stages), dtype=bool)
    entered = np.zeros((n, n_stages))
    reach_rows: list[int] = []
    reach_cols: list[int] = []
    reach_ages: list[float] = []
    order_of = stage_order.tolist()
    nan = float("nan")
    for i, snap in enumerate(snapshots):
        deal_ids_l.append(snap.id)
        owner_ids_l.append(snap.owner_id or 0)
        created_i = min(_days(snap.created_at, as_of), 0.0)
        created_l.append(created_i)
        amount_l.append(float(snap.amount))
        team_l.append(team_index.get(owner_team.get(snap.owner_id or 0), 0))  # 0: no member, so no team
        if snap.outcome == Outcome.OPEN:
            outcome_l.append(CENSORED)
            closed_l.append(nan)
        else:
            outcome_l.append(WON if snap.outcome == Outcome.WON else LOST)
            closed_l.append(min(_days(snap.closed_at or snap.as_of, as_of), 0.0))
        seen = list(visits.get(snap.id, []))
        stage_i, entered_age_i = 0, 0
        if snap.outcome == Outcome.OPEN and snap.stage_id in stage_index:
            stage_i = stage_index[snap.stage_id]
            entered_age_i = max(int(_days(snap.stage_entered_at, as_of) - created_i), 0)
            if not seen:
                seen = [(created_i, stage_i)]
        elif seen:
            stage_i = max(seen, key=lambda v: order_of[v[1]])[1]
        stage_l.append(stage_i)
        entered_age_l.append(entered_age_i)
        first_entry: dict[int, float] = {}
        for when, s in sorted(seen):
            # Skipping a stage counts as passing it: every earlier stage of the pipeline is reached too.
            for passed in passes[s]:
                if passed not in first_entry:
                    first_entry[passed] = max(when - created_i, 0.0)
        for passed, age in first_entry.items():
            reach_rows.append(i)
            reach_cols.append(passed)
            reach_ages.append(age)
    created = np.array(created_l, dtype=float)
    closed = np.array(closed_l, dtype=float)
    outcome = np.array(outcome_l, dtype=np.int64)
    amount = np.array(amount_l, dtype=float)
    stage = np.array(stage_l, dtype=np.int64)
    current_entered_age = np.array(entered_age_l, dtype=np.int64)
    team = np.array(team_l, dtype=np.int64)
    deal_ids = np.array(deal_ids_l, dtype=np.int64)
    owner_ids = np.array(owner_ids_l, dtype=np.int64)
    reached[reach_rows, reach_cols] = True
    entered[reach_rows, reach_cols] = reach_ages
    width = min(max((len(v) for v in slip_times.values()), default=0), MAX_SLIPS_KEPT)
    slips = np.full((n, width), np.nan)
    for i, deal_id in enumerate(deal_ids_l):
        if deal_id in slip_times:
            times = sorted(slip_times[deal_id])[:width]
            slips[i, : len(times)] = [max(t - created_l[i], 0.0) for t in times]
    history = History(
        slips=slips,
        created=created,
        closed=closed,
        outcome=outcome,
        amount=amount,
        stage=stage,
        reached=reached,
        entered_stage_age=current_entered_age,
        team=team,
        n_teams=len(team_ids),
        entered=entered,
    )
    return LoadedHistory(
        history=history,
        deal_ids=deal_ids,
        owner_ids=owner_ids,
        snapshots=snapshots,
        stage_ids=[s["id"] for s in open_stages],
        team_ids=team_ids,
        as_of=as_of,
    )


def won_between(loaded: LoadedHistory, start: date, end: date, tz) -> float:
    """Closed-won revenue with a close inside [start, end] (dates in the workspace's time zone)."""
    total = 0.0
    for snap in loaded.snapshots:
        if snap.outcome == Outcome.WON and snap.closed_at is not None:
            day = snap.closed_at.astimezone(tz).date()
            if start <= day <= end:
                total += float(snap.amount)
    return total
