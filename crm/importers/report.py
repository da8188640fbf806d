"""What an import did (or would do): counts, row errors and what was reconciled."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ENTITIES = ("deals", "companies", "contacts", "members", "history")
# A report lists at most this many row errors; the count of all of them is always exact.
MAX_LISTED_ERRORS = 10_000


@dataclass(frozen=True)
class RowError:
    row: int  # 1-based line of the record in its file (the header is row 1); 0 for file-level problems
    column: str
    message: str
    file: str = ""

    def as_dict(self) -> dict[str, Any]:
        found = {"row": self.row, "column": self.column, "message": self.message}
        if self.file:
            found["file"] = self.file
        return found


@dataclass
class ImportReport:
    fmt: str
    dry_run: bool = False
    created: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ENTITIES, 0))
    updated: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ENTITIES, 0))
    # Found by their id or content key and already the same: matched, nothing written.
    unchanged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ENTITIES, 0))
    skipped: int = 0
    refused: int = 0  # rows with a problem (all of them refused unless skip_invalid)
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    deals_by_outcome: dict[str, int] = field(default_factory=lambda: {"won": 0, "lost": 0, "open": 0})
    reconciled: list[str] = field(default_factory=list)
    seconds: float = 0.0
    rows: int = 0
    written: bool = False
    deal_ids: list[int] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        return self.error_count == 0 or self.written

    def add_error(self, error: RowError) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_LISTED_ERRORS:
            self.errors.append(error)

    def reconcile(self, message: str) -> None:
        if message not in self.reconciled:
            self.reconciled.append(message)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": dict(self.created),
            "updated": dict(self.updated),
            "unchanged": dict(self.unchanged),
            "skipped": self.skipped,
            "refused": self.refused,
            "errors": [e.as_dict() for e in self.errors],
            "error_count": self.error_count,
            "deals_by_outcome": dict(self.deals_by_outcome),
            "reconciled": list(self.reconciled),
            "seconds": round(self.seconds, 3),
            "rows": self.rows,
            "dry_run": self.dry_run,
            "written": self.written,
        }
