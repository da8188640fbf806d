"""The first rows of an import with each cell's problem: the checking pass on ~20 rows, writing nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from django.utils import timezone

from crm.importers import _formats
from crm.importers.reading import CsvSource, FileProblem
from crm.importers.records import Context
from crm.importers.report import ImportReport, RowError
from tenancy.models import Workspace

PREVIEW_ROWS = 20
# Which file of each format holds the deals (the one shown in the preview).
_MAIN_SOURCE = {"maven": "pipeline_file", "salesforce": "opportunities", "hubspot": "deals_file", "csv": "src"}


@dataclass
class PreviewCell:
    value: str
    problem: str = ""


@dataclass
class Preview:
    file: str = ""
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[int, list[PreviewCell]]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)  # every problem found, placed in a cell or not
    reconciled: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def preview_import(
    *, workspace: Workspace, fmt: str, path: Path, mapping: dict[str, Any] | None = None, limit: int = PREVIEW_ROWS
) -> Preview:
    report = ImportReport(fmt=fmt, dry_run=True)
    ctx = Context(report=report, tz=workspace.tz, now=timezone.now(), currency=workspace.currency)
    preview = Preview()
    try:
        formats = _formats()
        if fmt not in formats:
            raise FileProblem(f"unknown format {fmt!r}")
        source = formats[fmt](path=path, mapping=mapping or {}, ctx=ctx)
        for _record in islice(source.deals(), limit):
            pass
        main: CsvSource = getattr(source, _MAIN_SOURCE[fmt])
    except FileProblem as exc:
        report.add_error(RowError(row=exc.row, column=exc.column, message=str(exc), file=exc.file))
        preview.errors = report.errors
        return preview
    preview.file, preview.columns = main.path.name, list(main.columns)
    preview.errors, preview.reconciled = report.errors, report.reconciled
    placed = {(e.row, e.column): e.message for e in report.errors if e.file in {"", main.path.name}}
    for row, values in islice(main.rows(), limit):
        cells = [PreviewCell(values.get(c, ""), placed.get((row, c), "")) for c in main.columns]
        preview.rows.append((row, cells))
    return preview
