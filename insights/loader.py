"""The deals a member sees, as the plain arrays the rep and bottleneck cores read.

Stage and close-date changes come from DealHistory through `crm.history` (the one codec); amounts in
the workspace currency (forecasting.currency). Times are days relative to `now` (negative: past).
Only the default pipeline: stage ranks must mean the same thing for every deal compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.db.models import Count

from crm import history
from crm.models import Activity, DealHistory, Outcome, Pipeline, Stage, StageKind, TrackedField
from forecasting.currency import converted_amount
from tenancy.scope import Scope

DAY = 86400.0
LOST = -1  # rank of a lost stage


@dataclass(frozen=True)
class DealFacts:
    """One row per deal of the default pipeline in the member's sight; stage columns per open stage."""

    stage_names: list[str]  # open stages in pipeline order (rank 0..K-1); rank K is won
    stage_ids: list[int]
    ids: np.ndarray
    owner: np.ndarray  # membership id, 0 when none
    team: np.ndarray  # the owner's team id, 0 when none
    amount: np.ndarray
    employees: np.ndarray  # the company's head count, NaN when unknown
    created: np.ndarray  # days
    closed: np.ndarray  # days, NaN while open
    outcome: np.ndarray  # 1 won, -1 lost, 0 open
    slipped: np.ndarray  # bool: its expected close date was ever pushed later
    activities: np.ndarray  # activities logged on the deal
    first_rank: np.ndarray  # rank of the first stage it was in (-2 when unknown)
    furthest: np.ndarray  # furthest open rank reached, K when won, -2 when unknown
    current_rank: np.ndarray  # its open stage's rank now, -1 when closed
    entered: np.ndarray  # N x K: first time it entered each open stage (NaN: never)
    left: np.ndarray  # N x K: when it first left that stage (NaN: never left or never there)
    beyond: np.ndarray  # N x K: first time it was in a later stage or won (NaN: never)
    in_stage_since: np.ndarray  # days: when it entered its current stage

    @property
    def n_stages(self) -> int:
        return len(self.stage_names)

    def stage_decisions(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Who was decided at open stage k, whether they moved on, and when: the one rule for "conversion from k".

        A deal counts at k once it entered k or an earlier stage and got as far as k; it moved on when it
        reached a later stage or won (when it first did), it failed when it was lost without getting past k
        (when it closed). Deals still open at k or before are undecided. Returns (decided, advanced, decided_at)."""
        reached = (self.first_rank >= 0) & (self.first_rank <= k) & (self.furthest >= k)
        advanced = self.furthest > k
        decided_at = np.where(advanced, self.beyond[:, k], self.closed)
        decided = reached & (advanced | (self.outcome == -1)) & ~np.isnan(decided_at)
        return decided, advanced, decided_at

    def __len__(self) -> int:
        return len(self.ids)


def _days(moment: datetime | None, now: datetime) -> float:
    return np.nan if moment is None else (moment - now).total_seconds() / DAY


def load_deal_facts(scope: Scope, now: datetime) -> DealFacts | None:
    """Every deal of the default pipeline in `scope`, as arrays; None without a default pipeline."""
    workspace = scope.workspace
    pipeline = Pipeline.objects.for_workspace(workspace).filter(is_default=True).first()
    if pipeline is None:
        return None
    stages = list(Stage.objects.filter(pipeline=pipeline).order_by("order").values("id", "name", "kind"))
    open_stages = [s for s in stages if s["kind"] == StageKind.OPEN]
    k = len(open_stages)
    rank = {s["id"]: i for i, s in enumerate(open_stages)}
    rank.update({s["id"]: k for s in stages if s["kind"] == StageKind.WON})
    rank.update({s["id"]: LOST for s in stages if s["kind"] == StageKind.LOST})

    deals = scope.deals().filter(pipeline=pipeline, created_at__lte=now)
    rows = list(
        deals.annotate(value=converted_amount(workspace))
        .values_list(
            "id", "owner_id", "owner__team_id", "value", "company__employees", "created_at", "closed_at",
            "outcome", "stage_id", "stage_entered_at",
        )
        .order_by("id")
    )  # fmt: skip
    n = len(rows)
    index = {row[0]: i for i, row in enumerate(rows)}
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    outcome_code = {Outcome.WON: 1, Outcome.LOST: -1}
    facts = {
        "owner": np.array([r[1] or 0 for r in rows], dtype=np.int64),
        "team": np.array([r[2] or 0 for r in rows], dtype=np.int64),
        "amount": np.array([float(r[3] or 0) for r in rows]),
        "employees": np.array([np.nan if r[4] is None else float(r[4]) for r in rows]),
        "created": np.array([_days(r[5], now) for r in rows]),
        "closed": np.array([_days(r[6], now) for r in rows]),
        "outcome": np.array([outcome_code.get(r[7], 0) for r in rows], dtype=np.int64),
        "current_rank": np.array([rank.get(r[8], -1) if r[7] == Outcome.OPEN else -1 for r in rows], dtype=np.int64),
        "in_stage_since": np.array([_days(r[9], now) for r in rows]),
    }
    entered = np.full((n, k), np.nan)
    left = np.full((n, k), np.nan)
    beyond = np.full((n, k), np.nan)
    first_rank = np.full(n, -2, dtype=np.int64)
    furthest = np.full(n, -2, dtype=np.int64)
    stage_rows = (
        DealHistory.objects.for_workspace(workspace)
        .filter(field=TrackedField.STAGE, deal__in=deals, changed_at__lte=now)
        .order_by("deal_id", *history.EARLIEST_FIRST)
        .values_list("deal_id", "new_value", "changed_at")
    )
    current: dict[int, int] = {}
    for deal_id, value, at in stage_rows.iterator(chunk_size=5000):
        i = index.get(deal_id)
        r = rank.get(history.decode(TrackedField.STAGE, value)) if value is not None else None
        if i is None or r is None or current.get(i) == r:
            continue
        t = _days(at, now)
        previous = current.get(i)
        if previous is not None and 0 <= previous < k and np.isnan(left[i, previous]):
            left[i, previous] = t
        current[i] = r
        if first_rank[i] == -2:
            first_rank[i] = r
        if 0 <= r < k and np.isnan(entered[i, r]):
            entered[i, r] = t
        if r >= 0:
            furthest[i] = max(furthest[i], r)
            # Reaching rank r is being beyond every stage before it (for the first time).
            earlier = beyond[i, : min(r, k)]
            earlier[np.isnan(earlier)] = t
    slipped = np.zeros(n, dtype=bool)
    date_rows = (
        DealHistory.objects.for_workspace(workspace)
        .filter(field=TrackedField.EXPECTED_CLOSE_DATE, deal__in=deals, changed_at__lte=now, old_value__isnull=False)
        .values_list("deal_id", "old_value", "new_value")
    )
    for deal_id, old, new in date_rows.iterator(chunk_size=5000):
        i = index.get(deal_id)
        if i is None or new is None:
            continue
        if history.decode(TrackedField.EXPECTED_CLOSE_DATE, new) > history.decode(
            TrackedField.EXPECTED_CLOSE_DATE, old
        ):
            slipped[i] = True
    activities = np.zeros(n, dtype=np.int64)
    counted = (
        Activity.objects.for_workspace(workspace)
        .filter(deal__in=deals, occurred_at__lte=now)
        .values("deal_id")
        .annotate(c=Count("id"))
        .values_list("deal_id", "c")
        .order_by()
    )
    for deal_id, count in counted:
        if deal_id in index:
            activities[index[deal_id]] = count
    return DealFacts(
        stage_names=[s["name"] for s in open_stages],
        stage_ids=[s["id"] for s in open_stages],
        ids=ids,
        slipped=slipped,
        activities=activities,
        first_rank=first_rank,
        furthest=furthest,
        entered=entered,
        left=left,
        beyond=beyond,
        **facts,
    )
