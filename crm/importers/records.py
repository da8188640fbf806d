"""What a format hands to the writer: plain records keyed by external ids. No Django here."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from crm.importers.report import ImportReport, RowError


@dataclass(frozen=True)
class PipelineSpec:
    """The pipeline deals go to: `name` None means the workspace's default pipeline.

    `stages` are (name, default probability, kind) created when missing, in this order.
    """

    name: str | None = None
    stages: tuple[tuple[str, int, str], ...] = ()


@dataclass
class TeamRecord:
    name: str
    parent: str | None = None
    manager_key: str | None = None


@dataclass
class MemberRecord:
    key: str
    display_name: str
    role: str = "rep"
    team: str | None = None
    email: str = ""


@dataclass
class CompanyRecord:
    key: str
    name: str
    industry: str = ""
    employees: int | None = None
    annual_revenue: Decimal | None = None
    location: str = ""
    domain: str = ""
    parent_key: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    store_key: bool = True  # False when the key is only the name to match on, not an id from the source


@dataclass
class ContactRecord:
    key: str
    last_name: str
    first_name: str = ""
    email: str = ""
    phone: str = ""
    title: str = ""
    company_key: str | None = None


@dataclass
class Change:
    """A tracked field's new value at a moment: stage by name, owner by member key, amount, date, probability.

    The pseudo-field "outcome_stage" takes (stage name or None, outcome) and moves the deal to that
    stage, or to the pipeline's first stage of the outcome's kind.
    """

    at: datetime
    field: str
    value: Any


@dataclass
class DealRecord:
    row: int
    external_id: str
    title: str
    created_at: datetime
    stage: str | None = None  # the stage at creation; None → the pipeline's first stage of `outcome`'s kind
    outcome: str | None = None  # a hint used when `stage` is blank or unknown
    amount: Decimal = Decimal("0")
    amount_is_estimated: bool = False  # final value (a plain, untracked field)
    owner_key: str | None = None
    company_key: str | None = None
    expected_close_date: date | None = None
    probability: Decimal | None = None
    # Whether the source says a person set the probability; None when it does not say (then it is not manual).
    probability_is_manual: bool | None = None
    currency: str | None = None
    source: str = ""
    description: str = ""
    lost_reason: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    contact_keys: list[str] = field(default_factory=list)
    # The id this row had before content keys ("<file>#<row>"): a deal imported under it is taken over, not doubled.
    legacy_external_id: str = ""


@dataclass
class Context:
    """Shared by a format and the engine: where errors go, the workspace's zone, the import's clock."""

    report: ImportReport
    tz: tzinfo
    now: datetime
    currency: str = "USD"
    muted: bool = False  # the second (writing) pass re-reads rows that were already checked

    def error(self, row: int, column: str, message: str, file: str = "") -> None:
        if not self.muted:
            self.report.add_error(RowError(row=row, column=column, message=message, file=file))

    def reconcile(self, message: str) -> None:
        if not self.muted:
            self.report.reconcile(message)


class ImportFormat(Protocol):
    """A source of records. `deals()` can be iterated more than once; it yields None for a rejected row."""

    def __init__(self, *, path: Path, mapping: dict[str, Any], ctx: Context) -> None: ...

    def pipeline(self) -> PipelineSpec: ...

    def deals(self) -> Iterator[DealRecord | None]: ...

    def teams(self) -> list[TeamRecord]: ...

    def members(self) -> list[MemberRecord]: ...

    def companies(self) -> list[CompanyRecord]: ...

    def contacts(self) -> list[ContactRecord]: ...
