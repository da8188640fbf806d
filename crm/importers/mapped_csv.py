"""Any CSV with a JSON mapping from our fields to its columns (see `MAPPING_KEYS`).

`{"delimiter": ";", "external_id": COL, "title": COL, "amount": COL, "stage": COL, "owner": COL,
"company": COL, "created": COL, "closed": COL, "expected_close": COL,
"outcome": {"column": COL, "won": [VALUES], "lost": [VALUES]}, "attributes": [COLS]}`; every key is
optional. Also: "encoding" (default UTF-8), "pipeline" (a pipeline name; default the workspace's
default pipeline), "currency", "title" may be a template like "{Product} for {Client}",
"date_formats" (strptime formats, tried in order), "probability_is_manual" (a yes/no column: whether a
person set that row's probability; without it an imported probability is not a person's).

Without an external_id column, a deal's id is its content key (`automap.content_key`: normalised title,
company and creation date, "key:…"), so re-importing the same file updates rather than duplicates, and
another file that happens to have the same name never overwrites deals by row number; the n-th exact repeat
of a key in one file gets "~n". "required" lists fields the file must have a column for (automatic and
web mappings list amount and stage): without one, the file is refused before a row is read. Without dates,
deals are stamped with the import time and carry `attributes.undated = true`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from crm.importers.automap import REQUIRED, content_key, missing_message, missing_required
from crm.importers.reading import CsvSource, FileProblem
from crm.importers.records import (
    Change,
    CompanyRecord,
    ContactRecord,
    Context,
    DealRecord,
    MemberRecord,
    PipelineSpec,
    TeamRecord,
)
from crm.importers.values import (
    FORMULA_FIRST,
    CellError,
    check_not_formula,
    number_or_text,
    parse_amount,
    parse_datetime,
)

MAPPING_KEYS = {
    "delimiter",
    "encoding",
    "external_id",
    "title",
    "amount",
    "stage",
    "owner",
    "company",
    "created",
    "closed",
    "expected_close",
    "outcome",
    "attributes",
    "pipeline",
    "currency",
    "date_formats",
    "description",
    "probability",
    "probability_is_manual",
    "source",
    "required",
}
_TEMPLATE_FIELD = re.compile(r"\{([^{}]+)\}")
_COLUMN_KEYS = ("external_id", "amount", "stage", "owner", "company", "created", "closed", "expected_close")
_TEXT_KEYS = (
    *("title", "description", "probability", "probability_is_manual", "source", "pipeline", "encoding", "currency"),
)


def check_mapping(mapping: dict[str, Any]) -> list[str]:
    """Problems with the mapping itself, as messages (empty when it is usable)."""
    problems = []
    if not isinstance(mapping, dict):
        return ["the mapping must be a JSON object"]
    unknown = set(mapping) - MAPPING_KEYS
    if unknown:
        problems.append(f"unknown mapping keys: {', '.join(sorted(unknown))}")
    for key in (*_COLUMN_KEYS, *_TEXT_KEYS):
        if key in mapping and not isinstance(mapping[key], str):
            problems.append(f"“{key}” must be a column name (text)")
    if "delimiter" in mapping and (not isinstance(mapping["delimiter"], str) or len(mapping["delimiter"]) != 1):
        problems.append("“delimiter” must be one character")
    outcome = mapping.get("outcome")
    if outcome is not None and (
        not isinstance(outcome, dict)
        or not isinstance(outcome.get("column"), str)
        or not all(isinstance(outcome.get(k, []), list) for k in ("won", "lost"))
    ):
        problems.append('“outcome” must be {"column": COL, "won": [values], "lost": [values]}')
    attributes = mapping.get("attributes", [])
    if not isinstance(attributes, list) or not all(isinstance(a, str) for a in attributes):
        problems.append("“attributes” must be a list of column names")
    required = mapping.get("required", [])
    if not isinstance(required, list) or not set(required) <= set(REQUIRED):
        problems.append(f"“required” must be a list of {', '.join(REQUIRED)}")
    formats = mapping.get("date_formats", [])
    if not isinstance(formats, list) or not all(isinstance(f, str) for f in formats):
        problems.append("“date_formats” must be a list of strptime formats")
    return problems


class MappedCsvFormat:
    def __init__(self, *, path: Path, mapping: dict[str, Any], ctx: Context) -> None:
        problems = check_mapping(mapping)
        if problems:
            raise FileProblem("the mapping is not usable: " + "; ".join(problems))
        if path.is_dir():
            raise FileProblem(f"{path} is a folder; the csv format takes one file")
        self.ctx = ctx
        self.m = mapping
        self.src = CsvSource(path, delimiter=mapping.get("delimiter"), encoding=mapping.get("encoding", "utf-8"))
        missing = missing_required(mapping)
        if missing:
            raise FileProblem(f"{path.name}: {missing_message(missing)}", row=1, file=path.name)
        title = mapping.get("title", "")
        self.title_template = title if _TEMPLATE_FIELD.search(title or "") else None
        template_columns = _TEMPLATE_FIELD.findall(title) if self.title_template else []
        outcome = mapping.get("outcome") or {}
        self.outcome_column = outcome.get("column")
        self.won = {str(v).strip().lower() for v in outcome.get("won", [])}
        self.lost = {str(v).strip().lower() for v in outcome.get("lost", [])}
        self.attribute_columns: list[str] = list(mapping.get("attributes", []))
        self.date_formats = tuple(mapping.get("date_formats", []))
        self.src.require(
            *[mapping.get(k, "") for k in _COLUMN_KEYS],
            *([] if self.title_template else [mapping.get("title", "")]),
            *template_columns,
            mapping.get("description", ""),
            mapping.get("probability", ""),
            mapping.get("probability_is_manual", ""),
            mapping.get("source", ""),
            self.outcome_column or "",
            *self.attribute_columns,
        )
        self.owners: set[str] = set()
        self.company_names: dict[str, str] = {}

    def pipeline(self) -> PipelineSpec:
        return PipelineSpec(name=self.m.get("pipeline"))

    def _cell(self, r: dict[str, str], key: str) -> str:
        column = self.m.get(key)
        return r[column].strip() if column else ""

    def deals(self) -> Iterator[DealRecord | None]:
        ctx, m = self.ctx, self.m
        file = self.src.path.name
        text_columns = [m[k] for k in ("title", "stage", "owner", "company", "description", "source") if m.get(k)]
        text_columns = [c for c in text_columns if c in self.src.columns]
        duplicates = 0
        seen_rows: set[bytes] | None = None if m.get("external_id") else set()
        seen_keys: dict[str, int] = {}
        undated = 0
        col_amount = m.get("amount")
        col_closed = m.get("closed")
        col_company = m.get("company")
        col_created = m.get("created")
        col_description = m.get("description")
        col_expected_close = m.get("expected_close")
        col_external_id = m.get("external_id")
        col_owner = m.get("owner")
        col_probability = m.get("probability")
        col_manual = m.get("probability_is_manual")
        col_source = m.get("source")
        col_stage = m.get("stage")
        checked_columns = (*text_columns, *self.attribute_columns)
        for row, r in self.src.rows():
            problems: list[tuple[str, str]] = []
            for column in checked_columns:
                value = r[column]
                if value and value[0] in FORMULA_FIRST:
                    try:
                        check_not_formula(value)
                    except CellError as exc:
                        problems.append((column, str(exc)))
            amount = created = closed = expected = probability = None
            try:
                amount = parse_amount(r[col_amount].strip() if col_amount else "")
            except CellError as exc:
                problems.append((m["amount"], str(exc)))
            try:
                created = parse_datetime((r[col_created].strip() if col_created else ""), ctx.tz, self.date_formats)
            except CellError as exc:
                problems.append((m["created"], str(exc)))
            try:
                closed = parse_datetime((r[col_closed].strip() if col_closed else ""), ctx.tz, self.date_formats)
            except CellError as exc:
                problems.append((m["closed"], str(exc)))
            try:
                found = parse_datetime(
                    (r[col_expected_close].strip() if col_expected_close else ""), ctx.tz, self.date_formats
                )
                expected = found.date() if found else None
            except CellError as exc:
                problems.append((m["expected_close"], str(exc)))
            try:
                probability = parse_amount(r[col_probability].strip() if col_probability else "")
                if probability is not None and probability > 100:
                    raise CellError(f"probability {probability} is over 100")
            except CellError as exc:
                problems.append((m["probability"], str(exc).replace("amount", "probability")))
            manual = _yes_no(r[col_manual].strip() if col_manual else "")
            if manual == "?":
                problems.append((m["probability_is_manual"], "is not yes or no"))
            if created is not None and closed is not None and closed < created:
                problems.append((m["closed"], f"closed {closed:%Y-%m-%d} is before created {created:%Y-%m-%d}"))
            if col_external_id:
                external_id = r[col_external_id].strip()
                if not external_id:
                    problems.append((m["external_id"], "is blank"))
            else:
                key = content_key(
                    title=self._title(r, ""),
                    company=r[col_company] if col_company else "",
                    created=f"{created:%Y-%m-%d}" if created is not None else "",
                )
                seen_keys[key] = repeat = seen_keys.get(key, 0) + 1
                external_id = key if repeat == 1 else f"{key} ~{repeat}"
            if problems:
                for column, message in problems:
                    ctx.error(row, column, message, file)
                yield None
                continue
            outcome = None
            if self.outcome_column:
                value = r[self.outcome_column].strip().lower()
                outcome = "won" if value in self.won else "lost" if value in self.lost else "open"
            if seen_rows is not None and not ctx.muted:
                digest = hashlib.blake2b("\x1f".join(r.values()).encode(), digest_size=16).digest()
                if digest in seen_rows:
                    duplicates += 1
                seen_rows.add(digest)
            attributes: dict[str, Any] = {c: number_or_text(r[c]) for c in self.attribute_columns}
            if created is None:
                created = ctx.now
                attributes["undated"] = True
                undated += 1
            owner = r[col_owner].strip() if col_owner else ""
            if owner:
                self.owners.add(owner)
            company = r[col_company].strip() if col_company else ""
            if company:
                self.company_names.setdefault(company.lower(), company)
            record = DealRecord(
                row=row,
                external_id=external_id,
                title=self._title(r, external_id if col_external_id else "") or company or "Untitled deal",
                created_at=created,
                stage=(r[col_stage].strip() if col_stage else "") or None,
                outcome=None if outcome == "open" and (r[col_stage].strip() if col_stage else "") else outcome,
                amount=amount or Decimal(0),
                owner_key=owner or None,
                company_key=company.lower() if company else None,
                expected_close_date=expected,
                probability=probability,
                probability_is_manual=manual if isinstance(manual, bool) else None,
                currency=m.get("currency"),
                source=(r[col_source].strip() if col_source else ""),
                description=(r[col_description].strip() if col_description else ""),
                attributes=attributes,
                legacy_external_id="" if col_external_id else f"{file}#{row}",
            )
            if outcome in {"won", "lost"}:
                # Created open, closed later: that is what history should say when we know both dates.
                if closed is None and "undated" not in attributes:
                    attributes["close_date_unknown"] = True
                if closed is not None and closed >= created:
                    record.outcome = None
                    final_stage = record.stage
                    record.stage = None
                    record.changes.append(Change(at=closed, field="outcome_stage", value=(final_stage, outcome)))
            yield record
        if duplicates:
            ctx.reconcile(
                f"{duplicates} rows are exact copies of an earlier row; with no id column they are kept as "
                "distinct deals (the n-th copy's key ends in ~n)"
            )
        if undated:
            ctx.reconcile(
                f"{undated} deals have no creation date: created (and closed) at import time, marked attributes.undated"
            )

    def _title(self, r: dict[str, str], external_id: str) -> str:
        if self.title_template:
            return _TEMPLATE_FIELD.sub(lambda match: r.get(match.group(1), "").strip(), self.title_template).strip()
        return self._cell(r, "title") or (f"Deal {external_id}" if external_id else "")

    def companies(self) -> list[CompanyRecord]:
        return [CompanyRecord(key=key, name=name, store_key=False) for key, name in sorted(self.company_names.items())]

    def contacts(self) -> list[ContactRecord]:
        return []

    def teams(self) -> list[TeamRecord]:
        return []

    def members(self) -> list[MemberRecord]:
        return [
            MemberRecord(
                key=o, display_name=o.split("@")[0] if "@" in o else o, email=o if "@" in o else "", role="rep"
            )
            for o in sorted(self.owners)
        ]


def _yes_no(value: str) -> bool | str | None:
    """A yes/no cell: True, False, None when blank, "?" when it is neither."""
    word = value.lower()
    if not word:
        return None
    if word in {"1", "true", "yes", "y", "x"}:
        return True
    if word in {"0", "false", "no", "n"}:
        return False
    return "?"
