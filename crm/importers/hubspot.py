"""HubSpot exports: deals (and optionally companies and contacts), from HubSpot's documented columns.

PATH is a folder with `deals.csv` (+ `companies.csv`, `contacts.csv`) or a single deals file. Deal
columns: "Record ID", "Deal Name", "Deal Stage", "Pipeline", "Amount", "Close Date", "Create Date",
"Deal owner", "Associated Company" / "Associated Company IDs", "Deal probability", "Closed Lost
Reason" (and "Associated Contact IDs" when present). Stage internal names (`closedwon`,
`appointmentscheduled`) and labels ("Closed Won") are both read.

History: HubSpot's deal export has no stage history, so a deal is created at its Create Date in its
current stage when open; a closed deal is created in the first open stage and closes at its Close
Date (won/lost from the stage). All deals go to one "HubSpot" pipeline; HubSpot's own pipeline name
is kept in `attributes.hubspot_pipeline`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

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
from crm.importers.salesforce import find_file
from crm.importers.values import CellError, check_not_formula, check_row_cells, parse_amount, parse_datetime

PIPELINE = "HubSpot"
# HubSpot's default sales pipeline: internal name → (label, default probability, kind).
DEFAULT_STAGES = {
    "appointmentscheduled": ("Appointment Scheduled", 20, "open"),
    "qualifiedtobuy": ("Qualified To Buy", 40, "open"),
    "presentationscheduled": ("Presentation Scheduled", 60, "open"),
    "decisionmakerboughtin": ("Decision Maker Bought-In", 80, "open"),
    "contractsent": ("Contract Sent", 90, "open"),
    "closedwon": ("Closed Won", 100, "won"),
    "closedlost": ("Closed Lost", 0, "lost"),
}
_BY_LABEL = {label.lower(): internal for internal, (label, _p, _k) in DEFAULT_STAGES.items()}
DEAL_COLUMNS = ("Record ID", "Deal Name", "Deal Stage", "Create Date")
OWNER_KEY = "hubspot-owner:"


def stage_label(raw: str) -> tuple[str, str]:
    """(label, kind) for a stage cell: `closedwon` and "Closed Won" are the same stage."""
    text = raw.strip()
    squashed = "".join(text.split()).lower()
    internal = squashed if squashed in DEFAULT_STAGES else _BY_LABEL.get(text.lower())
    if internal:
        label, _p, kind = DEFAULT_STAGES[internal]
        return label, kind
    lowered = text.lower()
    kind = "won" if "closed won" in lowered or squashed == "won" else "lost" if "closed lost" in lowered else "open"
    return text, kind


def _probability(raw: str) -> Decimal | None:
    """HubSpot exports probability as a fraction (0.2); a percent sign or a value over 1 is a percentage."""
    text = raw.strip()
    if not text:
        return None
    percent = text.endswith("%")
    value = parse_amount(text.rstrip("%"))
    if value is None:
        return None
    if not percent and value <= 1:
        value = (value * 100).quantize(Decimal("0.01"))
    if value > 100:
        raise CellError(f"probability {text} is over 100")
    return value


def _named_like(folder: Path, word: str) -> Path | None:
    found = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".csv" and word in p.name.lower())
    return found[0] if len(found) == 1 else None


class HubSpotFormat:
    def __init__(self, *, path: Path, mapping: dict[str, Any], ctx: Context) -> None:
        self.ctx = ctx
        if path.is_dir():
            # HubSpot names its files e.g. "hubspot-crm-exports-all-deals-2024-03-15.csv".
            deals = find_file(path, "deals.csv") or _named_like(path, "deal")
            if deals is None:
                raise FileProblem(f"{path.name}/deals.csv is missing", file="deals.csv")
            companies = find_file(path, "companies.csv") or _named_like(path, "compan")
            contacts = find_file(path, "contacts.csv") or _named_like(path, "contact")
        else:
            deals, companies, contacts = path, None, None
        self.deals_file = CsvSource(deals, delimiter=mapping.get("delimiter"))
        self.deals_file.require(*DEAL_COLUMNS)
        self.file = deals.name
        self.company_records = self._read_companies(companies)
        self.contact_records = self._read_contacts(contacts)
        self.owners: dict[str, MemberRecord] = {}
        self.named_companies: dict[str, CompanyRecord] = {}
        self.companies_by_name = {c.name.lower(): c for c in self.company_records.values()}
        self.stage_spec = self._stages()

    def _read_companies(self, path: Path | None) -> dict[str, CompanyRecord]:
        companies: dict[str, CompanyRecord] = {}
        if path is None:
            return companies
        source = CsvSource(path)
        source.require("Record ID", "Company name")
        for row, r in source.rows():
            key, name = r["Record ID"].strip(), r["Company name"].strip()
            try:
                check_not_formula(name)
                revenue = parse_amount(r.get("Annual Revenue", ""))
                employees_text = r.get("Number of Employees", "").strip().replace(",", "")
                employees = int(float(employees_text)) if employees_text else None
            except (CellError, ValueError) as exc:
                self.ctx.error(row, "Company name/Annual Revenue/Number of Employees", str(exc), path.name)
                continue
            if not key:
                self.ctx.error(row, "Record ID", "is blank", path.name)
                continue
            companies[key] = CompanyRecord(
                key=f"hubspot-company:{key}",
                name=name or key,
                domain=r.get("Company Domain Name", "").strip()[:200],
                industry=r.get("Industry", "").strip()[:100],
                employees=employees,
                annual_revenue=revenue,
            )
        return companies

    def _read_contacts(self, path: Path | None) -> list[ContactRecord]:
        contacts: list[ContactRecord] = []
        if path is None:
            return contacts
        source = CsvSource(path)
        source.require("Record ID")
        for row, r in source.rows():
            key = r["Record ID"].strip()
            first, last = r.get("First Name", "").strip(), r.get("Last Name", "").strip()
            try:
                for value in (first, last, r.get("Job Title", "").strip()):
                    check_not_formula(value)
            except CellError as exc:
                self.ctx.error(row, "First Name/Last Name/Job Title", str(exc), path.name)
                continue
            if not key:
                self.ctx.error(row, "Record ID", "is blank", path.name)
                continue
            company = r.get("Associated Company ID", "").split(";")[0].strip()
            contacts.append(
                ContactRecord(
                    key=f"hubspot-contact:{key}",
                    last_name=last or r.get("Email", "").strip() or key,
                    first_name=first,
                    email=r.get("Email", "").strip()[:254],
                    phone=r.get("Phone Number", "").strip(),
                    title=r.get("Job Title", "").strip(),
                    company_key=self.company_records[company].key if company in self.company_records else None,
                )
            )
        return contacts

    def _stages(self) -> tuple[tuple[str, int, str], ...]:
        seen: dict[str, tuple[str, str]] = {}
        probabilities: dict[str, Counter[int]] = {}
        for _row, r in self.deals_file.rows():
            label, kind = stage_label(r["Deal Stage"])
            if not label:
                continue
            seen.setdefault(label.lower(), (label, kind))
            try:
                probability = _probability(r.get("Deal probability", ""))
            except CellError:
                probability = None
            if probability is not None:
                probabilities.setdefault(label.lower(), Counter())[int(probability)] += 1
        defaults = {label.lower(): (p, i) for i, (label, p, _k) in enumerate(DEFAULT_STAGES.values())}
        spec: list[tuple[int, int, int, str, str]] = []
        for key, (label, kind) in seen.items():
            default, position = defaults.get(key, ({"won": 100, "lost": 0}.get(kind, 50), 99))
            found = probabilities.get(key)
            chance = found.most_common(1)[0][0] if found else default
            spec.append((("open", "won", "lost").index(kind), position, chance, label, kind))
        if not any(s[0] == 0 for s in spec):
            spec.append((0, 0, 20, "Appointment Scheduled", "open"))
        spec.sort(key=lambda s: s[:3])
        return tuple((label, chance, kind) for _k, _pos, chance, label, kind in spec)

    def pipeline(self) -> PipelineSpec:
        return PipelineSpec(name=PIPELINE, stages=self.stage_spec)

    def deals(self) -> Iterator[DealRecord | None]:
        ctx, tz = self.ctx, self.ctx.tz
        counts: Counter[str] = Counter()
        for row, r in self.deals_file.rows():
            problems: list[tuple[str, str]] = []
            deal_id, title = r["Record ID"].strip(), r["Deal Name"].strip()
            label, kind = stage_label(r["Deal Stage"])
            if not deal_id:
                problems.append(("Record ID", "is blank"))
            if not label:
                problems.append(("Deal Stage", "is blank"))
            parsed, cell_problems = check_row_cells(
                r,
                text_columns=("Deal Name", "Deal Stage", "Deal owner", "Associated Company", "Closed Lost Reason"),
                parsers=(
                    ("Create Date", lambda v: parse_datetime(v, tz)),
                    ("Close Date", lambda v: parse_datetime(v, tz)),
                    ("Amount", parse_amount),
                    ("Deal probability", _probability),
                ),
            )
            problems.extend(cell_problems)
            if "Create Date" in parsed and parsed["Create Date"] is None:
                problems.append(("Create Date", "is blank"))
            if problems:
                for column, message in problems:
                    ctx.error(row, column, message, self.file)
                yield None
                continue
            yield self._record(row, r, deal_id, title, label, kind, parsed, counts)
        if counts["closed_no_date"]:
            ctx.reconcile(f"{counts['closed_no_date']} closed deals have no Close Date: closed at their Create Date")
        if counts["close_before_create"]:
            ctx.reconcile(
                f"{counts['close_before_create']} closed deals have a Close Date before their Create Date: "
                "closed at their Create Date"
            )
        if counts["company_by_name"]:
            ctx.reconcile(f"{counts['company_by_name']} deals name a company not in companies.csv: matched by name")

    def _record(
        self,
        row: int,
        r: dict[str, str],
        deal_id: str,
        title: str,
        label: str,
        kind: str,
        parsed: dict[str, Any],
        counts: Counter[str],
    ) -> DealRecord:
        created, closed = parsed["Create Date"], parsed["Close Date"]
        owner = r.get("Deal owner", "").strip()
        owner_key = None
        if owner:
            owner_key = OWNER_KEY + owner.lower()
            self.owners.setdefault(
                owner_key,
                MemberRecord(key=owner_key, display_name=owner, email=owner if "@" in owner else ""),
            )
        attributes: dict[str, Any] = {}
        if r.get("Pipeline", "").strip():
            attributes["hubspot_pipeline"] = r["Pipeline"].strip()
        record = DealRecord(
            row=row,
            external_id=f"hubspot-deal:{deal_id}",
            title=title or f"Deal {deal_id}",
            created_at=created,
            stage=label if kind == "open" else None,
            outcome="open" if kind != "open" else None,
            amount=parsed["Amount"] or Decimal(0),
            owner_key=owner_key,
            company_key=self._company_key(r, counts),
            expected_close_date=closed.date() if closed else None,
            probability=parsed["Deal probability"],
            lost_reason=r.get("Closed Lost Reason", "").strip() if kind == "lost" else "",
            attributes=attributes,
            contact_keys=[
                f"hubspot-contact:{c.strip()}" for c in r.get("Associated Contact IDs", "").split(";") if c.strip()
            ],
        )
        if kind != "open":
            at = closed
            if at is None:
                counts["closed_no_date"] += 1
                at = created
            elif at < created:
                counts["close_before_create"] += 1
                at = created
            record.changes.append(Change(at=at, field="outcome_stage", value=(label, kind)))
        return record

    def _company_key(self, r: dict[str, str], counts: Counter[str]) -> str | None:
        for raw in r.get("Associated Company IDs", "").split(";"):
            if raw.strip() in self.company_records:
                return self.company_records[raw.strip()].key
        name = r.get("Associated Company", "").strip()
        if not name:
            return None
        if name.lower() in self.companies_by_name:
            return self.companies_by_name[name.lower()].key
        counts["company_by_name"] += 1
        self.named_companies.setdefault(name.lower(), CompanyRecord(key=name.lower(), name=name, store_key=False))
        return name.lower()

    def companies(self) -> list[CompanyRecord]:
        return [*self.company_records.values(), *self.named_companies.values()]

    def contacts(self) -> list[ContactRecord]:
        return self.contact_records

    def teams(self) -> list[TeamRecord]:
        return []

    def members(self) -> list[MemberRecord]:
        return list(self.owners.values())
