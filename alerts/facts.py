"""Loads the facts the detectors need about every open deal as of a moment, in a few queries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import Count, Max, Q

from alerts.detectors import DealFacts, Thresholds
from alerts.engagement_facts import captured_facts
from crm import engagement
from crm import history as deal_history
from crm.models import Activity, ActivityKind, Deal, DealHistory, Direction, Stage, TrackedField
from crm.selectors import DealSnapshot, pipeline_as_of
from tenancy.models import Workspace

DAY = 86400.0


@dataclass
class LoadedFacts:
    facts: DealFacts
    snapshots: list[DealSnapshot]  # the open deals, in the same order as the facts
    all_deals: list[DealSnapshot]  # the deals loaded (those that may have been open at `as_of`)
    stage_names: dict[int, str]
    as_of: datetime


def _days(later: datetime, earlier: datetime | None) -> float:
    return np.nan if earlier is None else (later - earlier).total_seconds() / DAY


def stage_norms(workspace_id: int, as_of: datetime, percentile: float, min_n: int) -> dict[int, float]:
    """Per stage, the `percentile` of the days deals spent in it before leaving (completed stays up to
    `as_of`, from the stage history; the first stay starts when the deal was created)."""
    sql = f"""
        SELECT stage_id, percentile_cont(%s) WITHIN GROUP (ORDER BY days)
        FROM (
            SELECT {deal_history.sql_value(TrackedField.STAGE, "h.old_value")} AS stage_id,
                   EXTRACT(EPOCH FROM h.changed_at - COALESCE(
                       LAG(h.changed_at) OVER (PARTITION BY h.deal_id ORDER BY {deal_history.ORDER_SQL.format("h.")}),
                       d.created_at
                   )) / 86400.0 AS days
            FROM {DealHistory._meta.db_table} h JOIN {Deal._meta.db_table} d ON d.id = h.deal_id
            WHERE h.workspace_id = %s AND h.field = %s AND h.changed_at <= %s AND d.deleted_at IS NULL
        ) stays
        WHERE stage_id IS NOT NULL
        GROUP BY stage_id
        HAVING count(*) >= %s
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [percentile / 100, workspace_id, TrackedField.STAGE, as_of, min_n])
        return {int(stage_id): float(days) for stage_id, days in cursor.fetchall()}


def stall_norms(workspace_id: int, as_of: datetime, thresholds: Thresholds) -> dict[int, float]:
    """Per stage, how long is "stalled": the workspace-wide percentile, or the stage's own where the
    calibration chose one (a stage whose percentile is None has no norm, so the rule stays silent there)."""
    norms = stage_norms(workspace_id, as_of, thresholds.stall_percentile, thresholds.stall_min_samples)
    by_stage = dict(thresholds.stall_percentile_by_stage)
    own: set[float] = {p for p in by_stage.values() if p is not None and p != thresholds.stall_percentile}
    for level in own:
        at = stage_norms(workspace_id, as_of, level, thresholds.stall_min_samples)
        norms.update({s: at[s] for s, p in by_stage.items() if p == level and s in at})
    for stage, percentile in by_stage.items():
        if percentile is None:
            norms.pop(stage, None)
    return norms


def _quarter_end(workspace: Workspace, day: date) -> date:
    return workspace.fiscal_quarter_bounds(day)[1]


def load_facts(
    workspace: Workspace,
    as_of: datetime,
    thresholds: Thresholds,
    *,
    win_probabilities: dict[int, float] | None = None,
    previous_win_probabilities: Mapping[str, float] | Mapping[int, float] | None = None,  # str keys from JSON
    snapshots: list[DealSnapshot] | None = None,
) -> LoadedFacts:
    """Facts about every deal open at `as_of` (stage, time in stage against the norm, activity, slips...).

    Contacts have no history, so the contact count is today's even for a past `as_of`.
    """
    if snapshots is None:
        # Only deals that can have been open at `as_of`: open now, or closed after it.
        candidates = list(
            Deal.objects.for_workspace(workspace)
            .filter(Q(outcome="open") | Q(closed_at__gt=as_of) | Q(closed_at__isnull=True), created_at__lte=as_of)
            .values_list("id", flat=True)
        )
        snapshots = pipeline_as_of(workspace, as_of, deal_ids=candidates)
    all_deals = snapshots
    open_deals = [s for s in all_deals if s.is_open]
    stages = {
        s.id: (s.name, float(s.default_probability) / 100)
        for s in Stage.objects.for_workspace(workspace).only("id", "name", "default_probability")
    }
    n = len(open_deals)
    if n == 0:
        return LoadedFacts(DealFacts.empty(), [], all_deals, {k: v[0] for k, v in stages.items()}, as_of)
    ids = np.array([s.id for s in open_deals], dtype=np.int64)
    index = {int(d): i for i, d in enumerate(ids)}
    today = as_of.astimezone(workspace.tz).date()

    norms = stall_norms(workspace.id, as_of, thresholds)

    recent_from = as_of - timedelta(days=thresholds.engagement_recent_days)
    earlier_from = recent_from - timedelta(days=thresholds.engagement_baseline_days)
    ghost_from = as_of - timedelta(days=thresholds.ghost_days)
    acts = Activity.objects.for_workspace(workspace)
    if not engagement.enabled():  # measuring what capture adds: its activities left out
        acts = acts.exclude(external_id__startswith=engagement.CAPTURED_PREFIX)
    activity = (
        acts.filter(deal_id__isnull=False, occurred_at__lte=as_of)
        .values("deal_id")
        .annotate(
            last=Max("occurred_at"),
            last_inbound=Max("occurred_at", filter=Q(direction=Direction.INBOUND)),
            recent=Count("id", filter=Q(occurred_at__gt=recent_from)),
            earlier=Count("id", filter=Q(occurred_at__gt=earlier_from, occurred_at__lte=recent_from)),
            recent_out=Count("id", filter=Q(occurred_at__gt=ghost_from, direction=Direction.OUTBOUND)),
            recent_in=Count("id", filter=Q(occurred_at__gt=ghost_from, direction=Direction.INBOUND)),
        )
        .order_by()
    )
    nan = np.full(n, np.nan)
    days_since_activity, days_since_inbound = nan.copy(), nan.copy()
    recent, earlier, recent_out, recent_in = (np.zeros(n) for _ in range(4))
    for row in activity:
        i = index.get(row["deal_id"])
        if i is None:
            continue
        days_since_activity[i] = _days(as_of, row["last"])
        days_since_inbound[i] = _days(as_of, row["last_inbound"])
        recent[i], earlier[i] = row["recent"], row["earlier"]
        recent_out[i], recent_in[i] = row["recent_out"], row["recent_in"]

    tracked = acts.filter(deal_id__isnull=False, occurred_at__lte=as_of).exists()
    # Meetings ahead that were already on record at `as_of` (a backtest must not see bookings made later).
    booked = set(
        acts.filter(
            kind=ActivityKind.MEETING, deal_id__in=index, occurred_at__gt=as_of, created_at__lte=as_of
        ).values_list("deal_id", flat=True)
    )
    slip_count, slip_days = np.zeros(n), np.zeros(n)
    slips = (
        DealHistory.objects.for_workspace(workspace)
        .filter(field=TrackedField.EXPECTED_CLOSE_DATE, changed_at__lte=as_of, old_value__isnull=False)
        .values_list("deal_id", "old_value", "new_value")
    )
    for deal_id, old, new in slips.iterator(chunk_size=5000):
        i = index.get(deal_id)
        if i is None or not old or not new:
            continue
        field = TrackedField.EXPECTED_CLOSE_DATE
        pushed = (deal_history.decode(field, new) - deal_history.decode(field, old)).days
        if pushed > 0:
            slip_count[i] += 1
            slip_days[i] += pushed

    contact_count = _contact_counts(workspace.id, as_of, index)

    win = win_probabilities or {}
    before: Mapping[Any, float] = previous_win_probabilities or {}
    this_quarter_end = _quarter_end(workspace, today)
    period_end_days, past_due = np.empty(n), nan.copy()
    for i, s in enumerate(open_deals):
        due = s.expected_close_date
        end = _quarter_end(workspace, due) if due is not None and due > today else this_quarter_end
        period_end_days[i] = (end - today).days
        if due is not None:
            past_due[i] = (today - due).days
    facts = DealFacts(
        deal_id=ids,
        amount=np.array([float(s.amount) for s in open_deals]),
        stage_id=np.array([s.stage_id for s in open_deals], dtype=np.int64),
        stage_probability=np.array([stages.get(s.stage_id, ("", 0.0))[1] for s in open_deals]),
        win_probability=np.array([win.get(int(d), np.nan) for d in ids], dtype=float),
        previous_win_probability=np.array([before.get(str(d), before.get(int(d), np.nan)) for d in ids], dtype=float),
        age_days=np.array([_days(as_of, s.created_at) for s in open_deals]),
        days_in_stage=np.array([_days(as_of, s.stage_entered_at) for s in open_deals]),
        stage_norm_days=np.array([norms.get(s.stage_id, np.nan) for s in open_deals]),
        days_since_activity=days_since_activity,
        recent_activities=recent,
        earlier_activities=earlier,
        days_since_inbound=days_since_inbound,
        recent_outbound=recent_out,
        recent_inbound=recent_in,
        slip_count=slip_count,
        slip_days=slip_days,
        days_past_due=past_due,
        contact_count=contact_count,
        days_to_period_end=period_end_days,
        activity_tracked=np.full(n, tracked),
        meeting_booked=np.array([int(d) in booked for d in ids], dtype=bool),
        **captured_facts(workspace.id, as_of, index, thresholds.engagement_recent_days),
    )
    return LoadedFacts(facts, open_deals, all_deals, {k: v[0] for k, v in stages.items()}, as_of)


def _contact_counts(workspace_id: int, as_of: datetime, index: dict[int, int]) -> np.ndarray:
    """Distinct contacts on each deal or on its activities up to `as_of`; NaN everywhere when the
    workspace links no contacts to deals at all (nothing to judge threading by)."""
    deal_contacts = Deal.contacts.through._meta.db_table
    activity_contacts = Activity.contacts.through._meta.db_table
    activity, deal = Activity._meta.db_table, Deal._meta.db_table
    counts = np.full(len(index), np.nan)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT EXISTS (SELECT 1 FROM {deal_contacts} dc JOIN {deal} d ON d.id = dc.deal_id
                               WHERE d.workspace_id = %s AND d.deleted_at IS NULL)
                    OR EXISTS (SELECT 1 FROM {activity_contacts} ac JOIN {activity} a ON a.id = ac.activity_id
                               WHERE a.workspace_id = %s AND a.deal_id IS NOT NULL)""",
            [workspace_id, workspace_id],
        )
        if not cursor.fetchone()[0]:
            return counts
        ids = list(index)
        cursor.execute(
            f"""SELECT deal_id, COUNT(DISTINCT contact_id) FROM (
                    SELECT deal_id, contact_id FROM {deal_contacts} WHERE deal_id = ANY(%s)
                    UNION ALL
                    SELECT a.deal_id, ac.contact_id
                    FROM {activity_contacts} ac JOIN {activity} a ON a.id = ac.activity_id
                    WHERE a.deal_id = ANY(%s) AND a.occurred_at <= %s
                ) people GROUP BY deal_id""",
            [ids, ids, as_of],
        )
        counts[:] = 0
        for deal_id, n in cursor.fetchall():
            counts[index[deal_id]] = n
    return counts
