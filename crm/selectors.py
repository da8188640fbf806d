"""Reads of CRM data, including the state of deals as of any past moment (rebuilt from DealHistory)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from crm.models import Deal, DealHistory, Outcome, TrackedField
from tenancy.models import Workspace


@dataclass(frozen=True)
class DealSnapshot:
    """A deal as it stood at `as_of`."""

    id: int
    uuid: str
    title: str
    owner_id: int | None
    company_id: int | None
    pipeline_id: int
    stage_id: int
    amount: Decimal
    expected_close_date: date | None
    probability: Decimal | None
    outcome: str
    created_at: datetime
    closed_at: datetime | None
    stage_entered_at: datetime
    as_of: datetime

    @property
    def is_open(self) -> bool:
        return self.outcome == Outcome.OPEN


_SNAPSHOT_COLUMNS = (
    "id",
    "uuid",
    "title",
    "owner_id",
    "company_id",
    "pipeline_id",
    "stage_id",
    "amount",
    "expected_close_date",
    "probability",
    "outcome",
    "created_at",
    "closed_at",
    "stage_entered_at",
)


def _from_json(field: str, value: object) -> object:
    if value is None:
        return None
    if field in {TrackedField.AMOUNT, TrackedField.PROBABILITY}:
        return Decimal(str(value))
    if field == TrackedField.EXPECTED_CLOSE_DATE:
        return date.fromisoformat(str(value))
    return value


_ATTR_FOR_FIELD = {
    TrackedField.STAGE: "stage_id",
    TrackedField.AMOUNT: "amount",
    TrackedField.EXPECTED_CLOSE_DATE: "expected_close_date",
    TrackedField.OWNER: "owner_id",
    TrackedField.PROBABILITY: "probability",
    TrackedField.OUTCOME: "outcome",
}


def pipeline_as_of(
    workspace: Workspace | int, as_of: datetime, *, deal_ids: list[int] | None = None
) -> list[DealSnapshot]:
    """Every deal that existed at `as_of`, with its stage, amount, dates, owner and outcome as of then.

    Three queries whatever the number of deals: the deals, the changes after `as_of` (whose first
    old value per field is the value at `as_of`), and the last stage/outcome change up to `as_of`.
    """
    workspace_id = workspace if isinstance(workspace, int) else workspace.id
    deals = Deal.objects.for_workspace(workspace_id).filter(created_at__lte=as_of)
    if deal_ids is not None:
        deals = deals.filter(id__in=deal_ids)
    rows = {row["id"]: row for row in deals.values(*_SNAPSHOT_COLUMNS).order_by()}
    if not rows:
        return []

    later = (
        DealHistory.objects.for_workspace(workspace_id)
        .filter(changed_at__gt=as_of, field__in=list(_ATTR_FOR_FIELD))
        .order_by("deal_id", "field", "changed_at", "id")
        .distinct("deal_id", "field")
        .values_list("deal_id", "field", "old_value")
    )
    if deal_ids is not None:
        later = later.filter(deal_id__in=deal_ids)
    for deal_id, field, old_value in later:
        row = rows.get(deal_id)
        if row is not None:
            row[_ATTR_FOR_FIELD[field]] = _from_json(field, old_value)

    last_moves = (
        DealHistory.objects.for_workspace(workspace_id)
        .filter(changed_at__lte=as_of, field__in=[TrackedField.STAGE, TrackedField.OUTCOME])
        .order_by("deal_id", "field", "-changed_at", "-id")
        .distinct("deal_id", "field")
        .values_list("deal_id", "field", "changed_at")
    )
    if deal_ids is not None:
        last_moves = last_moves.filter(deal_id__in=deal_ids)
    last_stage_change: dict[int, datetime] = {}
    last_outcome_change: dict[int, datetime] = {}
    for deal_id, field, changed_at in last_moves:
        target = last_stage_change if field == TrackedField.STAGE else last_outcome_change
        target[deal_id] = changed_at

    snapshots = []
    for deal_id, row in rows.items():
        if row["outcome"] == Outcome.OPEN:
            closed_at = None
        elif row["closed_at"] is not None and row["closed_at"] <= as_of:
            closed_at = row["closed_at"]
        else:
            closed_at = last_outcome_change.get(deal_id, row["closed_at"])
        stage_entered = row["stage_entered_at"]
        if stage_entered is None or stage_entered > as_of:
            stage_entered = last_stage_change.get(deal_id, row["created_at"])
        snapshots.append(
            DealSnapshot(
                **{**row, "uuid": str(row["uuid"]), "closed_at": closed_at, "stage_entered_at": stage_entered},
                as_of=as_of,
            )
        )
    snapshots.sort(key=lambda s: s.id)
    return snapshots


def deal_state_as_of(deal: Deal, as_of: datetime) -> DealSnapshot | None:
    """The deal as it stood at `as_of`, or None when it did not exist yet."""
    found = pipeline_as_of(deal.workspace_id, as_of, deal_ids=[deal.id])
    return found[0] if found else None
