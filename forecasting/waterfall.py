"""What changed: the pipeline waterfall between two dates, rebuilt from deal history.

The pipeline at a day `d` is read at the end of that day in the workspace's time zone, from
`crm.selectors.pipeline_as_of` (the fold of the deal's history up to then). A deal is **in the
pipeline** at `d` when, as of then, it is open, its owner is in the chosen scope (the workspace, a
team's members or one rep) and, when a period is chosen, its expected close date falls in the period.
Its value there is its amount as of then.

`start` is the pipeline at the end of `--from`, `end` the pipeline at the end of `--to`; the window is
what happened after the first and up to the second. Every deal is looked at once and gets a main flow,
tried in this order:

- **new**: created in the window and, by its end, in the pipeline or closed within scope (see won and
  lost). Amount: `+` its amount at the end, or at its close when it closed in the window.
- **won** / **lost**: closed (won or lost) in the window and still closed at its end, its owner in
  scope at the close and, with a period, in the pipeline at the start or its expected close date at
  the close in the period. Amount: `−` its amount at the close. A deal created *and* closed in the
  window counts in both new (`+`) and won or lost (`−`): new counts every deal created in the window,
  won and lost every deal closed in it, and the two cancel.
- **pulled_in**: not in the pipeline at the start, in it at the end, and at the start already open
  and within the owner scope but with an expected close date outside the period (so only with a
  period). Amount: `+` its amount at the end.
- **pushed_out**: in the pipeline at the start, not at the end, still open and within the owner scope
  at the end but with an expected close date outside the period. Amount: `−` its amount at the start.
- **increased** / **decreased**: in the pipeline at both ends with a different amount. Amount: the
  change.
- **other**: whatever else moved a deal in or out of the pipeline: reopened, closed but out of scope
  at its close, its owner moved into or out of the team or rep, a period filter met on a deal that was
  closed or out of scope at the start. Amount: `+` its amount at the end or `−` its amount at the start.

A deal in the pipeline at both ends with the same amount, and one in it at neither end that matches
no flow, changes nothing and is not counted. A won or lost deal whose amount at the close differs from
its amount at the start has that difference as a second flow (increased or decreased; or pulled_in or
other when it was not in the pipeline at the start), so each flow's amount is exactly what its deals
moved and

    start.amount + Σ flows.amount = end.amount

holds exactly, in Decimal. Amounts are in the workspace currency (forecasting.currency's rates, to the
cent). A flow's deal count is the deals with a part in it (a won deal whose amount rose is counted in
won and in increased); counts do not add up the way amounts do (an increased deal is in the pipeline
at both ends). Deleted deals are not in the history `pipeline_as_of` rebuilds (a deleted deal is
hidden everywhere), so they appear at neither end.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from crm.models import Outcome
from crm.selectors import DealSnapshot, pipeline_as_of
from forecasting.compute import end_of_day
from forecasting.currency import convert_snapshots
from tenancy.models import Membership, Team, Workspace
from tenancy.scope import Scope

FLOWS = ("new", "pulled_in", "increased", "decreased", "pushed_out", "won", "lost", "other")
FLOW_LABELS = {
    "new": "New",
    "pulled_in": "Pulled in",
    "increased": "Increased",
    "decreased": "Decreased",
    "pushed_out": "Pushed out",
    "won": "Won",
    "lost": "Lost",
    "other": "Other",
}
ZERO = Decimal(0)


@dataclass(frozen=True)
class FlowItem:
    """One deal's part in a flow."""

    deal_id: int
    uuid: str
    title: str
    owner_id: int | None
    amount: Decimal
    main: bool  # the deal's main flow, or the second part of a closed deal (its amount change)


@dataclass
class Total:
    deals: int = 0
    amount: Decimal = ZERO

    def as_json(self) -> dict[str, object]:
        # A float's repr is the shortest string that reads back as the same number, so 2-decimal amounts
        # print exactly (read them with parse_float=Decimal to add them up exactly).
        return {"deals": self.deals, "amount": float(self.amount)}


@dataclass
class Waterfall:
    start_day: date
    end_day: date
    period: tuple[date, date] | None
    start: Total
    end: Total
    flows: dict[str, Total]
    items: dict[str, list[FlowItem]] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        return {
            "start": self.start.as_json(),
            "end": self.end.as_json(),
            "flows": {name: self.flows[name].as_json() for name in FLOWS},
        }


@dataclass(frozen=True)
class _Filter:
    owner_ids: frozenset[int] | None
    period: tuple[date, date] | None

    def owned(self, snap: DealSnapshot | None) -> bool:
        return snap is not None and (self.owner_ids is None or snap.owner_id in self.owner_ids)

    def dated(self, snap: DealSnapshot) -> bool:
        if self.period is None:
            return True
        return snap.expected_close_date is not None and self.period[0] <= snap.expected_close_date <= self.period[1]

    def in_pipeline(self, snap: DealSnapshot | None) -> bool:
        return snap is not None and snap.is_open and self.owned(snap) and self.dated(snap)


def _amount(snap: DealSnapshot | None) -> Decimal:
    return (snap.amount or ZERO) if snap is not None else ZERO


def deal_flows(
    before: DealSnapshot | None,
    after: DealSnapshot,
    *,
    window: tuple[object, object],
    owner_ids: frozenset[int] | None,
    period: tuple[date, date] | None,
) -> list[tuple[str, Decimal, bool]]:
    """(flow, signed amount, main?) for one deal between two snapshots, as the module docstring defines them.

    `before` is None when the deal did not exist at the start; `window` is (start moment, end moment)."""
    rule = _Filter(owner_ids, period)
    was, now = rule.in_pipeline(before), rule.in_pipeline(after)
    a0 = _amount(before) if was else ZERO
    a1 = _amount(after) if now else ZERO
    created = window[0] < after.created_at <= window[1]  # type: ignore[operator]  # datetimes
    closed = (
        not after.is_open
        and after.closed_at is not None
        and window[0] < after.closed_at <= window[1]  # type: ignore[operator]
        and rule.owned(after)
        and (period is None or was or rule.dated(after))
    )
    closing = "won" if after.outcome == Outcome.WON else "lost"
    if created:
        if closed:
            return [("new", _amount(after), True), (closing, -_amount(after), True)]
        return [("new", a1, True)] if now else []
    flows: list[tuple[str, Decimal, bool]] = []
    if closed:
        flows.append((closing, -_amount(after), True))
        rest = _amount(after) - a0
        if rest:
            if was:
                flows.append(("increased" if rest > 0 else "decreased", rest, False))
            elif before is not None and before.is_open and rule.owned(before):
                flows.append(("pulled_in", rest, False))
            else:
                flows.append(("other", rest, False))
        return flows
    if was and now:
        change = a1 - a0
        return [("increased" if change > 0 else "decreased", change, True)] if change else []
    if now:
        moved_in = before is not None and before.is_open and rule.owned(before) and rule.owned(after)
        return [("pulled_in" if moved_in else "other", a1, True)]
    if was:
        moved_out = after.is_open and rule.owned(after) and rule.owned(before)
        return [("pushed_out" if moved_out else "other", -a0, True)]
    return []


Snapshots = tuple[dict[int, DealSnapshot], dict[int, DealSnapshot]]


def pipeline_snapshots(workspace: Workspace, *, start: date, end: date) -> Snapshots:
    """Every deal as of the end of `start` and of `end`, by id, amounts in the workspace currency."""
    t0, t1 = end_of_day(start, workspace), end_of_day(end, workspace)
    before = {s.id: s for s in convert_snapshots(workspace, pipeline_as_of(workspace, t0))}
    after = {s.id: s for s in convert_snapshots(workspace, pipeline_as_of(workspace, t1))}
    return before, after


def pipeline_changes(
    workspace: Workspace,
    *,
    start: date,
    end: date,
    period: tuple[date, date] | None = None,
    owner_ids: Iterable[int] | None = None,
    snapshots: Snapshots | None = None,
) -> Waterfall:
    """The waterfall from the pipeline at the end of `start` to the one at the end of `end`.

    `owner_ids` None is the whole workspace; callers narrow it to a team or rep and to what the asker
    may see (the request's Scope). `snapshots`: `pipeline_snapshots` of the same days, when one caller
    draws several scopes' waterfalls (the weekly digest)."""
    if end < start:
        raise ValueError("The end of the window is before its start.")
    owners = None if owner_ids is None else frozenset(owner_ids)
    rule = _Filter(owners, period)
    t0, t1 = end_of_day(start, workspace), end_of_day(end, workspace)
    before, after = snapshots if snapshots is not None else pipeline_snapshots(workspace, start=start, end=end)

    result = Waterfall(start, end, period, Total(), Total(), {name: Total() for name in FLOWS})
    result.items = {name: [] for name in FLOWS}
    for snap in before.values():
        if rule.in_pipeline(snap):
            result.start.deals += 1
            result.start.amount += _amount(snap)
    for snap in after.values():
        if rule.in_pipeline(snap):
            result.end.deals += 1
            result.end.amount += _amount(snap)
        for name, amount, main in deal_flows(
            before.get(snap.id), snap, window=(t0, t1), owner_ids=owners, period=period
        ):
            total = result.flows[name]
            total.amount += amount
            total.deals += 1
            result.items[name].append(FlowItem(snap.id, snap.uuid, snap.title, snap.owner_id, amount, main))
    for items in result.items.values():
        items.sort(key=lambda item: (-abs(item.amount), item.title))
    return result


# ---- the screen ---------------------------------------------------------------------------------------
def owners_for_member(scope: Scope, *, team: Team | None, rep: Membership | None) -> frozenset[int] | None:
    """The owners whose deals a member's waterfall follows: the chosen team or rep, within what they see."""
    if (team is not None and not scope.can_see_team(team)) or (rep is not None and not scope.can_see_rep(rep)):
        raise ValueError("The waterfall was asked for a team or rep outside the member's scope.")
    wanted: frozenset[int] | None = None
    if rep is not None:
        wanted = frozenset({rep.id})
    elif team is not None:
        wanted = frozenset(team.members.values_list("id", flat=True))
    visible = scope.owner_ids
    if visible is None:
        return wanted
    return visible if wanted is None else wanted & visible


def changes_for_member(
    scope: Scope,
    *,
    start: date,
    end: date,
    period: tuple[date, date] | None = None,
    team: Team | None = None,
    rep: Membership | None = None,
) -> Waterfall:
    """The waterfall a member sees: never a deal outside their scope, at either end or in a flow."""
    owners = owners_for_member(scope, team=team, rep=rep)
    return pipeline_changes(scope.workspace, start=start, end=end, period=period, owner_ids=owners)
