"""Records pulled from a CRM's API, shaped as the export files the importers read (a table of text cells).

So a pulled opportunity goes through exactly the same reading (crm.importers) as an exported one, and a synced
workspace has the same stages, values and history as the same data imported from files.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any


def cell(value: Any) -> str:
    """An API value as an export cell: null blank, booleans true/false, numbers as written, text as is."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass
class RowsTable:
    """Duck-types crm.importers.reading.CsvSource over rows already in memory."""

    name: str
    records: list[dict[str, Any]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.path = PurePath(self.name)
        if not self.columns:
            seen: dict[str, None] = {}
            for record in self.records:
                seen.update(dict.fromkeys(record))
            self.columns = list(seen)

    def require(self, *columns: str) -> None:
        return None  # the queries name every column, so none can be missing

    def rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        for number, record in enumerate(self.records, start=2):
            yield number, {c: cell(record.get(c)) for c in self.columns}
