"""The first rows of an import with each cell's problem: the checking pass on ~20 rows, writing nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from django.utils import timezone

from crm.duplicates import company_lookalikes, deal_lookalikes
from crm.importers import _formats, mapping_found_automatically
from crm.importers.reading import CsvSource, FileProblem
from crm.importers.records import Context, DealRecord
from crm.importers.report import ImportReport, RowError
from crm.models import Deal
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
    identity: str = ""  # how rows are matched to deals, for a person
    identities: dict[int, str] = field(default_factory=dict)  # row → the deal's id or content key
    notes: dict[int, list[str]] = field(default_factory=dict)  # row → "updates …", "looks like …"

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def table(self) -> list[tuple[int, str, list[str], list[PreviewCell]]]:
        """The rows with their identity and notes, for the page."""
        return [(n, self.identities.get(n, ""), self.notes.get(n, []), cells) for n, cells in self.rows]


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
        if fmt == "csv" and not mapping:
            mapping = mapping_found_automatically(path, ctx)
        source = formats[fmt](path=path, mapping=mapping or {}, ctx=ctx)
        records = [r for r in islice(source.deals(), limit) if r is not None]
        main: CsvSource = getattr(source, _MAIN_SOURCE[fmt])
    except FileProblem as exc:
        report.add_error(RowError(row=exc.row, column=exc.column, message=str(exc), file=exc.file))
        preview.errors = report.errors
        return preview
    preview.file, preview.columns = main.path.name, list(main.columns)
    preview.errors, preview.reconciled = report.errors, report.reconciled
    placed = {(e.row, e.column): e.message for e in report.errors if e.file in {"", main.path.name}}
    if fmt == "csv":
        _identify(workspace, preview, records, source)
    for row, values in islice(main.rows(), limit):
        cells = [PreviewCell(values.get(c, ""), placed.get((row, c), "")) for c in main.columns]
        preview.rows.append((row, cells))
    return preview


def _identify(workspace: Workspace, preview: Preview, records: list[DealRecord], source: Any) -> None:
    """Each row's identity, whether it updates a deal we have, and the existing records it looks like."""
    column = source.m.get("external_id")
    preview.identity = (
        f"the id in column “{column}”"
        if column
        else "a content key: the deal's name, company and creation date, normalised (shown per row)"
    )
    preview.identities = {r.row: r.external_id for r in records}
    existing = dict(
        Deal.all_objects.filter(workspace=workspace, external_id__in=[r.external_id for r in records]).values_list(
            "external_id", "title"
        )
    )
    names = {r.company_key: source.company_names.get(r.company_key, "") for r in records if r.company_key}
    companies = company_lookalikes(workspace, names.values())
    new = [r for r in records if r.external_id not in existing]
    deals = deal_lookalikes(workspace, [(r.title, names.get(r.company_key or "", "")) for r in new])
    for record in records:
        notes = []
        if record.external_id in existing:
            notes.append(f"updates the deal “{existing[record.external_id]}”")
        name = names.get(record.company_key or "", "")
        if name in companies:
            notes.append(f"company “{name}” looks like the existing “{companies[name].name}”")
        twin = deals.get((record.title, name))
        if record.external_id not in existing and twin is not None:
            notes.append(f"looks like the existing deal “{twin.title}”")
        if notes:
            preview.notes[record.row] = notes
