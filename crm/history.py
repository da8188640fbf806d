"""Deal history: the one owner of how tracked deal fields are stored in DealHistory and how they change.

Every writer (crm.services, the importers, the demo seeder) and every reader (as-of selectors,
forecasting inputs, the scoring loader, similarity, alert facts, the history display) goes through
this module:

- `TRACKED_ATTRS`: the Deal attribute behind each tracked field (the fields the transition folds; a
  row of any other kind is not part of a deal's state).
- `encode` / `decode`: a field's Python value to and from its JSON form in `old_value`/`new_value`
  (stage and owner as ids, amount and probability as normalised decimal strings, the expected close
  date as an ISO date, the outcome as its code).
- `sql_value`: the one SQL expression per field that decodes a JSON column in queries that must
  stay in SQL for speed.
- `outcome_of_kind` / `kind_of_outcome`: the outcome a stage's kind implies, and back.
- `DealState` and `apply`: the one pure transition (state, change) → state, with the derived
  `stage_entered_at` and `closed_at`; `deal_update` and the as-of rebuild both fold it.
- `creation_changes`: the rows a new deal starts with. A deal's creation is ordinary rows, one per
  tracked field that has a value, with `old_value` NULL and `changed_at` = the deal's `created_at`;
  no reader has a special case for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db.models import BooleanField, ExpressionWrapper, Q

from crm.models import Outcome, StageKind, TrackedField

# The Deal attribute behind each tracked field, in the order rows of one change are written.
TRACKED_ATTRS: dict[str, str] = {
    TrackedField.STAGE: "stage_id",
    TrackedField.AMOUNT: "amount",
    TrackedField.EXPECTED_CLOSE_DATE: "expected_close_date",
    TrackedField.OWNER: "owner_id",
    TrackedField.PROBABILITY: "probability",
    TrackedField.OUTCOME: "outcome",
}
FIELD_OF_ATTR: dict[str, str] = {attr: str(field) for field, attr in TRACKED_ATTRS.items()}

_DECIMALS = {TrackedField.AMOUNT, TrackedField.PROBABILITY}
_IDS = {TrackedField.STAGE, TrackedField.OWNER}

_OUTCOME_OF_KIND: dict[str, str] = {
    StageKind.OPEN: Outcome.OPEN,
    StageKind.WON: Outcome.WON,
    StageKind.LOST: Outcome.LOST,
}
_KIND_OF_OUTCOME: dict[str, str] = {outcome: kind for kind, outcome in _OUTCOME_OF_KIND.items()}


def outcome_of_kind(kind: str) -> str:
    """The outcome a deal in a stage of this kind has (won and lost stages close it)."""
    return _OUTCOME_OF_KIND.get(kind, Outcome.OPEN)


def kind_of_outcome(outcome: str | None) -> str | None:
    """The stage kind that matches an outcome, or None when none is asked for."""
    return _KIND_OF_OUTCOME.get(outcome or "")


# --- the codec ---------------------------------------------------------------------------------------
def normalise(field: str, value: Any) -> Any:
    """A field's value in the type the Deal attribute holds (amounts as Decimal, ids as int...)."""
    if value is None:
        return None
    if field in _DECIMALS:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    if field in _IDS:
        return int(value)
    if field == TrackedField.EXPECTED_CLOSE_DATE:
        if isinstance(value, datetime):
            return value.date()
        return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    return str(value)


def encode(field: str, value: Any) -> Any:
    """The JSON form of a tracked field's value, as stored in DealHistory."""
    value = normalise(field, value)
    if value is None:
        return None
    if field in _DECIMALS:
        return format(value.normalize(), "f")
    if field == TrackedField.EXPECTED_CLOSE_DATE:
        return value.isoformat()
    return value


def decode(field: str, value: Any) -> Any:
    """The Python value of a stored JSON value (the inverse of `encode`)."""
    return normalise(field, value)


# One SQL expression per field turning a JSON column into a typed SQL value; `{}` is the column.
# Malformed values (never written by this module) come out as NULL instead of failing the query.
_SQL: dict[str, str] = {
    TrackedField.STAGE: "(CASE WHEN ({0} #>> '{{}}') ~ '^[0-9]+$' THEN ({0} #>> '{{}}')::bigint END)",
    TrackedField.OWNER: "(CASE WHEN ({0} #>> '{{}}') ~ '^[0-9]+$' THEN ({0} #>> '{{}}')::bigint END)",
    TrackedField.AMOUNT: "(CASE WHEN ({0} #>> '{{}}') ~ '^-?[0-9.]+$' THEN ({0} #>> '{{}}')::numeric END)",
    TrackedField.PROBABILITY: "(CASE WHEN ({0} #>> '{{}}') ~ '^-?[0-9.]+$' THEN ({0} #>> '{{}}')::numeric END)",
    TrackedField.EXPECTED_CLOSE_DATE: (
        "(CASE WHEN ({0} #>> '{{}}') ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}' THEN left({0} #>> '{{}}', 10)::date END)"
    ),
    TrackedField.OUTCOME: "({0} #>> '{{}}')",
}


def sql_value(field: str, column: str) -> str:
    """SQL that decodes `column` (a DealHistory JSON column, e.g. "h.new_value") as `field`'s type."""
    return _SQL[field].format(column)


# The order in which a deal's rows are folded. At one moment a creation row (old_value NULL) goes before
# a change of the same field: rows converted by migration 0003 got later ids than changes stamped at the
# creation moment. `ORDER_SQL` is the same order for raw SQL over DealHistory.
_IS_CHANGE = ExpressionWrapper(Q(old_value__isnull=False), output_field=BooleanField())
EARLIEST_FIRST = ("changed_at", _IS_CHANGE.asc(), "id")
LATEST_FIRST = ("-changed_at", _IS_CHANGE.desc(), "-id")
ORDER_SQL = "{0}changed_at, {0}old_value IS NOT NULL, {0}id"


# --- the transition ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class DealState:
    """A deal's tracked attributes and the two moments derived from them."""

    stage_id: int | None = None
    amount: Decimal | None = None
    expected_close_date: date | None = None
    owner_id: int | None = None
    probability: Decimal | None = None
    outcome: str | None = None
    stage_entered_at: datetime | None = None
    closed_at: datetime | None = None

    @classmethod
    def of(cls, deal: Any) -> DealState:
        """The state of a Deal (or any object with its attributes)."""
        return cls(**{attr: getattr(deal, attr) for attr in (*TRACKED_ATTRS.values(), "stage_entered_at", "closed_at")})

    def value(self, field: str) -> Any:
        return getattr(self, TRACKED_ATTRS[field])


@dataclass(frozen=True)
class Change:
    """One tracked field set to `value` (a Python value or its JSON form) at `at`."""

    field: str
    value: Any
    at: datetime


def apply(state: DealState, change: Change) -> DealState:
    """The state after `change`: the field's new value; entering a stage stamps `stage_entered_at`,
    closing stamps `closed_at` and reopening clears it. A change to the value it already has is no change."""
    new = normalise(change.field, change.value)
    attr = TRACKED_ATTRS[change.field]
    if getattr(state, attr) == new:
        return state
    # A copy through __dict__ rather than dataclasses.replace: imports fold hundreds of thousands of changes.
    after = object.__new__(DealState)
    values = after.__dict__
    values.update(state.__dict__)
    values[attr] = new
    if attr == "stage_id":
        values["stage_entered_at"] = change.at
    elif attr == "outcome":
        values["closed_at"] = None if new == Outcome.OPEN else change.at
    return after


def diff(before: DealState, after: DealState) -> list[tuple[str, Any, Any]]:
    """(field, old, new) for every tracked field that differs, as JSON values, in `TRACKED_ATTRS` order."""
    return [
        (str(field), encode(field, before.value(field)), encode(field, after.value(field)))
        for field in TRACKED_ATTRS
        if before.value(field) != after.value(field)
    ]


def stage_changes(stage_id: int, kind: str, at: datetime) -> list[Change]:
    """Moving to a stage: the stage, and the outcome its kind implies."""
    return [Change(TrackedField.STAGE, stage_id, at), Change(TrackedField.OUTCOME, outcome_of_kind(kind), at)]


def creation_changes(state: DealState) -> list[tuple[str, Any, Any]]:
    """The rows a deal starts its history with: (field, None, value) for every tracked field with a value."""
    return [
        (str(field), None, encode(field, state.value(field)))
        for field in TRACKED_ATTRS
        if state.value(field) is not None
    ]


def is_creation_row(old_value: Any, changed_at: Any, created_at: Any) -> bool:
    """Whether a stored row is one of a deal's creation rows rather than a change: no old value, and
    stamped at the deal's creation (works on datetimes and on epoch numbers alike)."""
    return old_value is None and changed_at <= created_at


def fold(changes: list[Change], state: DealState | None = None) -> DealState:
    """`apply` each change in turn, from `state` or from nothing (a deal's creation rows come first)."""
    state = state or DealState()
    for change in changes:
        state = apply(state, change)
    return state
