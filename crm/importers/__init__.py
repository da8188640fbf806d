"""Importing CRM data from other systems: `run_import(workspace=..., fmt=..., path=...)`.

Every format streams its rows twice: a first pass checks everything and writes nothing; only when
the file is clean (or `skip_invalid` is set) a second pass writes, in one transaction, with bulk
inserts/updates keyed by external ids, so a re-import creates nothing new. A dry run performs the
second pass too and rolls it back, so it reports exactly what a real run would do.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from django.db import DatabaseError, transaction
from django.utils import timezone

from crm.importers.automap import auto_mapping
from crm.importers.hubspot import HubSpotFormat
from crm.importers.mapped_csv import MappedCsvFormat
from crm.importers.maven import MavenFormat
from crm.importers.reading import CsvSource, FileProblem
from crm.importers.records import Context, DealRecord, ImportFormat
from crm.importers.report import ImportReport, RowError
from crm.importers.salesforce import SalesforceFormat
from crm.importers.writer import Writer
from crm.selectors import deal_external_ids_out_of_sight
from crm.services import deals_changed
from tenancy.models import Membership, Workspace
from tenancy.scope import Scope

__all__ = ["FORMATS", "ImportReport", "RowError", "run_import"]

BATCH = 5000
Progress = Callable[[str, int, int], None]


def _formats() -> dict[str, type[ImportFormat]]:
    return {"maven": MavenFormat, "salesforce": SalesforceFormat, "hubspot": HubSpotFormat, "csv": MappedCsvFormat}


FORMATS = ("maven", "salesforce", "hubspot", "csv")


def run_import(
    *,
    workspace: Workspace,
    fmt: str,
    path: Path | str,
    mapping: dict[str, Any] | None = None,
    dry_run: bool = False,
    skip_invalid: bool = False,
    actor: Membership | None = None,
    progress: Progress | None = None,
    scope: Scope | None = None,
) -> ImportReport:
    """Import `path` into `workspace`. Never raises for bad input: problems are in `report.errors`.

    `scope` is the sight of the member who runs it (None: the whole workspace, as for `import_crm`):
    a row whose external id is a deal outside it is refused, never matched and overwritten.

    Without `skip_invalid`, any error means nothing is written. `progress(phase, done, total)` is
    called now and then with phase "checking" or "writing".
    """
    started = time.perf_counter()
    report = ImportReport(fmt=fmt, dry_run=dry_run)
    ctx = Context(report=report, tz=workspace.tz, now=timezone.now(), currency=workspace.currency)
    try:
        scope = scope or Scope.whole_workspace(workspace)
        _run(workspace, fmt, Path(path), mapping or {}, ctx, skip_invalid, actor, progress or _no_progress, scope)
    except FileProblem as exc:
        report.add_error(RowError(row=exc.row, column=exc.column, message=str(exc), file=exc.file))
    finally:
        report.seconds = time.perf_counter() - started
    return report


def _no_progress(phase: str, done: int, total: int) -> None:
    return None


def _run(
    workspace: Workspace,
    fmt: str,
    path: Path,
    mapping: dict[str, Any],
    ctx: Context,
    skip_invalid: bool,
    actor: Membership | None,
    progress: Progress,
    scope: Scope,
) -> None:
    report = ctx.report
    formats = _formats()
    if fmt not in formats:
        raise FileProblem(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "csv" and not mapping:
        mapping = mapping_found_automatically(path, ctx)
    source = formats[fmt](path=path, mapping=mapping, ctx=ctx)

    # Pass 1: check every row, write nothing.
    seen: dict[str, int] = {}
    bad_rows: set[int] = set()
    out_of_sight = deal_external_ids_out_of_sight(scope)
    rows = valid = 0
    for record in source.deals():
        rows += 1
        if record is None:
            continue
        first = seen.setdefault(record.external_id, record.row)
        if first != record.row:
            ctx.error(record.row, "external id", f"“{record.external_id}” already used on row {first}")
            bad_rows.add(record.row)
            continue
        if record.external_id in out_of_sight:
            message = f"“{record.external_id}” is a deal outside the teams you can see; the row was refused"
            ctx.error(record.row, "external id", message)
            bad_rows.add(record.row)
            continue
        valid += 1
        if rows % BATCH == 0:
            progress("checking", rows, 0)
    del seen
    report.rows = rows
    report.refused = rows - valid
    companies, contacts, teams, members = source.companies(), source.contacts(), source.teams(), source.members()
    if report.error_count:
        if not skip_invalid:
            return
        report.skipped = rows - valid

    # Pass 2: write everything in one transaction.
    ctx.muted = True
    try:
        with transaction.atomic():
            writer = Writer(workspace=workspace, ctx=ctx, spec=source.pipeline(), actor=actor)
            writer.write_teams_and_members(teams, members)
            writer.write_companies(companies)
            writer.write_contacts(contacts)
            done = 0
            checked = (r for r in source.deals() if r is not None and r.row not in bad_rows)
            for batch in _batched(checked, BATCH):
                writer.write_deals(batch)
                done += len(batch)
                progress("writing", done, rows)
            if ctx.report.dry_run:
                transaction.set_rollback(True)
            elif report.deal_ids:
                deals_changed(workspace_id=workspace.id, deal_ids=report.deal_ids, bulk=True)
    except DatabaseError as exc:
        ctx.muted = False
        _reset_counts(report)
        ctx.error(0, "", f"the database refused the import, nothing was written: {exc}".strip())
        return
    finally:
        ctx.muted = False
    report.written = not report.dry_run


def mapping_found_automatically(path: Path, ctx: Context) -> dict[str, Any]:
    """The mapping of a CSV given without one: its columns recognised by name, amount and stage required."""
    mapping = auto_mapping(CsvSource(path).columns if not path.is_dir() else [])
    found = [f"{field} ← “{column}”" for field, column in mapping.items() if isinstance(column, str)]
    if found:
        ctx.reconcile("columns recognised by name: " + ", ".join(found))
    return mapping


def _reset_counts(report: ImportReport) -> None:
    for counts in (report.created, report.updated, report.unchanged):
        for key in counts:
            counts[key] = 0
    report.deals_by_outcome = dict.fromkeys(report.deals_by_outcome, 0)
    report.deal_ids.clear()


def _batched(items: Iterator[DealRecord], size: int) -> Iterator[list[DealRecord]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
