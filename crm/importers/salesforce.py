"""Salesforce exports: a folder with Opportunity, OpportunityHistory, Account, Contact (and User) CSVs.

File names are matched case-insensitively (`Opportunity.csv`, `opportunity.csv`); only Opportunity is
required. Both flavours seen in the wild are read: Data Loader/dbt dumps (ISO timestamps, booleans as
1/0, the null id `000000000000000AAA`) and report exports (`MM/DD/YY hh:mm AM`, TRUE/FALSE).

History: a deal starts at its CreatedDate in the state of its first OpportunityHistory row (stage,
amount, close date, probability); every later row is a change at that row's CreatedDate; when the
opportunity's current values differ from the last history row (history tracking switched on late),
the difference is a final change at LastModifiedDate. Stages get their kind from IsClosed/IsWon of the
opportunities in them and their default probability from the data's most common Probability.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

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
from crm.importers.values import CellError, check_not_formula, check_row_cells, parse_amount, parse_datetime

PIPELINE = "Salesforce"
# Salesforce's own defaults for its standard stages, used when the data gives no Probability.
STANDARD_PROBABILITY = {
    "prospecting": 10,
    "qualification": 10,
    "needs analysis": 20,
    "value proposition": 50,
    "id. decision makers": 60,
    "perception analysis": 70,
    "proposal/price quote": 75,
    "negotiation/review": 90,
    "closed won": 100,
    "closed lost": 0,
}
_TRUE = {"true", "1", "yes", "y"}
_DOMAIN = re.compile(r"^(?:https?://)?(?:www\.)?([^/\s]+)", re.IGNORECASE)


def sf_id(raw: str) -> str:
    """An id, or "" for blank and Salesforce's null id (`000000000000000AAA`)."""
    value = raw.strip()
    return "" if not value or value.startswith("000000000000000") else value


def sf_datetime(raw: str, tz: tzinfo) -> datetime | None:
    """Salesforce stores UTC and its data exports write ISO times in UTC; report exports (MM/DD/YY hh:mm AM)
    show the exporting user's zone, for which the workspace's zone is the best guess."""
    text = raw.strip()
    return parse_datetime(text, UTC if len(text) >= 10 and text[4] == "-" else tz)


def _flag(raw: str) -> bool:
    return raw.strip().lower() in _TRUE


class _Snapshot(NamedTuple):
    at: datetime
    sort_key: str
    row: int
    stage: str
    amount: Decimal | None
    close: date | None
    probability: Decimal | None


def find_file(folder: Path, name: str) -> Path | None:
    wanted = name.lower()
    for candidate in sorted(folder.iterdir()):
        if candidate.is_file() and candidate.name.lower() == wanted:
            return candidate
    return None


class SalesforceFormat:
    def __init__(self, *, path: Path, mapping: dict[str, Any], ctx: Context) -> None:
        if not path.is_dir():
            raise FileProblem(f"{path} is not a folder; the Salesforce format is a folder with Opportunity.csv etc.")
        self.ctx = ctx
        found = find_file(path, "Opportunity.csv")
        if found is None:
            raise FileProblem(f"{path.name}/Opportunity.csv is missing", file="Opportunity.csv")
        self.opportunities = CsvSource(found, delimiter=",")
        self.opportunities.require("Id", "Name", "StageName", "CreatedDate")
        self.file = found.name
        self.users = self._read_users(path)
        self.accounts = self._read_accounts(path)
        self.contact_records = self._read_contacts(path)
        self.history = self._read_history(path)
        self.roles = self._read_contact_roles(path)
        self.stage_spec = self._stages()
        self.owners: set[str] = set()

    # --- side files ----------------------------------------------------------------------------------
    def _optional(self, folder: Path, name: str, *required: str) -> CsvSource | None:
        found = find_file(folder, name)
        if found is None:
            return None
        source = CsvSource(found, delimiter=",")
        source.require(*required)
        return source

    def _read_users(self, folder: Path) -> dict[str, tuple[str, str]]:
        source = self._optional(folder, "User.csv", "Id")
        users: dict[str, tuple[str, str]] = {}
        if source is None:
            return users
        for _row, r in source.rows():
            uid = sf_id(r["Id"])
            name = r.get("Name", "").strip() or f"{r.get('FirstName', '')} {r.get('LastName', '')}".strip()
            if uid:
                users[uid] = (name, r.get("Email", "").strip())
        return users

    def _read_accounts(self, folder: Path) -> dict[str, CompanyRecord]:
        source = self._optional(folder, "Account.csv", "Id", "Name")
        accounts: dict[str, CompanyRecord] = {}
        if source is None:
            return accounts
        deleted = 0
        for row, r in source.rows():
            if _flag(r.get("IsDeleted", "")):
                deleted += 1
                continue
            try:
                revenue = parse_amount(r.get("AnnualRevenue", ""))
                employees_text = r.get("NumberOfEmployees", "").strip()
                employees = int(float(employees_text)) if employees_text else None
                check_not_formula(r["Name"].strip())
            except (CellError, ValueError) as exc:
                self.ctx.error(row, "AnnualRevenue/NumberOfEmployees/Name", str(exc), source.path.name)
                continue
            place = [r.get(k, "").strip() for k in ("BillingCity", "BillingState", "BillingCountry")]
            website = _DOMAIN.match(r.get("Website", "").strip())
            attributes = {k: r[k].strip() for k in ("Type", "Rating", "Ownership") if r.get(k, "").strip()}
            accounts[sf_id(r["Id"])] = CompanyRecord(
                key=sf_id(r["Id"]),
                name=r["Name"].strip() or sf_id(r["Id"]),
                industry=r.get("Industry", "").strip()[:100],
                employees=employees,
                annual_revenue=revenue,
                location=", ".join(p for p in place if p)[:120],
                domain=website.group(1)[:200] if website else "",
                parent_key=sf_id(r.get("ParentId", "")) or None,
                attributes=attributes,
            )
        for record in accounts.values():
            if record.parent_key and record.parent_key not in accounts:
                record.parent_key = None
        if deleted:
            self.ctx.reconcile(f"{deleted} deleted accounts (IsDeleted) were skipped")
        return accounts

    def _read_contacts(self, folder: Path) -> list[ContactRecord]:
        source = self._optional(folder, "Contact.csv", "Id", "LastName")
        contacts: list[ContactRecord] = []
        if source is None:
            return contacts
        for row, r in source.rows():
            if _flag(r.get("IsDeleted", "")) or not sf_id(r["Id"]):
                continue
            last = r["LastName"].strip() or r.get("Name", "").strip()
            problem = None
            for column in ("FirstName", "LastName", "Title"):
                try:
                    check_not_formula(r.get(column, "").strip())
                except CellError as exc:
                    problem = (column, str(exc))
            if problem or not last:
                column, message = problem or ("LastName", "is blank")
                self.ctx.error(row, column, message, source.path.name)
                continue
            account = sf_id(r.get("AccountId", ""))
            contacts.append(
                ContactRecord(
                    key=sf_id(r["Id"]),
                    last_name=last,
                    first_name=r.get("FirstName", "").strip(),
                    email=r.get("Email", "").strip()[:254],
                    phone=(r.get("Phone", "") or r.get("MobilePhone", "")).strip(),
                    title=r.get("Title", "").strip(),
                    company_key=account if account in self.accounts else None,
                )
            )
        return contacts

    def _read_contact_roles(self, folder: Path) -> dict[str, list[str]]:
        source = self._optional(folder, "OpportunityContactRole.csv", "OpportunityId", "ContactId")
        roles: dict[str, list[str]] = defaultdict(list)
        if source is not None:
            for _row, r in source.rows():
                if sf_id(r["OpportunityId"]) and sf_id(r["ContactId"]):
                    roles[sf_id(r["OpportunityId"])].append(sf_id(r["ContactId"]))
        return roles

    def _read_history(self, folder: Path) -> dict[str, list[_Snapshot]]:
        source = self._optional(folder, "OpportunityHistory.csv", "OpportunityId", "CreatedDate", "StageName")
        history: dict[str, list[_Snapshot]] = defaultdict(list)
        if source is None:
            self.ctx.reconcile("no OpportunityHistory.csv: deals start in their current state, without history")
            return history
        file = source.path.name
        for row, r in source.rows():
            if _flag(r.get("IsDeleted", "")):
                continue
            oid = sf_id(r["OpportunityId"])
            try:
                at = sf_datetime(r["CreatedDate"], self.ctx.tz)
                if at is None:
                    raise CellError("is blank")
            except CellError as exc:
                self.ctx.error(row, "CreatedDate", str(exc), file)
                continue
            values: dict[str, Any] = {}
            bad = False
            for column, parse in (("Amount", parse_amount), ("Probability", parse_amount)):
                try:
                    values[column] = parse(r.get(column, ""))
                except CellError as exc:
                    self.ctx.error(row, column, str(exc), file)
                    bad = True
            try:
                close = sf_datetime(r.get("CloseDate", ""), self.ctx.tz)
            except CellError as exc:
                self.ctx.error(row, "CloseDate", str(exc), file)
                bad = True
            if bad or not oid:
                continue
            history[oid].append(
                _Snapshot(
                    at=at,
                    # Salesforce ids grow with creation: they order rows stamped in the same second.
                    sort_key=sf_id(r.get("Id", ""))[:15],
                    row=row,
                    stage=r["StageName"].strip(),
                    amount=values["Amount"],
                    close=close.date() if close else None,
                    probability=values["Probability"],
                )
            )
        for snapshots in history.values():
            snapshots.sort()
        self.ctx.reconcile(
            "ISO times without a zone read as UTC (Salesforce data exports); MM/DD/YY times read in the "
            "workspace's zone (report exports show the user's zone)"
        )
        return history

    # --- stages --------------------------------------------------------------------------------------
    def _stages(self) -> tuple[tuple[str, int, str], ...]:
        kinds: dict[str, Counter[str]] = defaultdict(Counter)
        probabilities: dict[str, Counter[int]] = defaultdict(Counter)
        sort_orders: dict[str, Counter[int]] = defaultdict(Counter)
        names: dict[str, str] = {}
        has_flags = "IsClosed" in self.opportunities.columns
        for _row, r in self.opportunities.rows():
            name = r["StageName"].strip()
            if not name:
                continue
            key = name.lower()
            names.setdefault(key, name)
            if has_flags:
                closed, won = _flag(r["IsClosed"]), _flag(r.get("IsWon", ""))
                kinds[key]["won" if won else "lost" if closed else "open"] += 1
            if r.get("StageSortOrder", "").strip().isdigit():
                sort_orders[key][int(r["StageSortOrder"])] += 1
        for snapshots in self.history.values():
            for s in snapshots:
                if s.stage:
                    names.setdefault(s.stage.lower(), s.stage)
        for key, votes in self.probability_votes().items():
            probabilities[key].update(votes)
        spec = []
        for key, name in names.items():
            if kinds[key]:
                kind = kinds[key].most_common(1)[0][0]
                if len(kinds[key]) > 1:
                    self.ctx.reconcile(
                        f"stage “{name}” is both open and closed in Opportunity.csv: taken as {kind}; each deal's "
                        "outcome still follows its own IsClosed/IsWon"
                    )
            else:
                kind = "won" if "won" in key else "lost" if "lost" in key else "open"
            chance = stage_chance(key, kind, probabilities[key])
            order = sort_orders[key].most_common(1)[0][0] if sort_orders[key] else chance
            spec.append((("open", "won", "lost").index(kind), order, name, chance, kind))
        spec.sort(key=lambda s: (s[0], s[1], s[2].lower()))
        return tuple((name, chance, kind) for _k, _o, name, chance, kind in spec)

    def probability_votes(self) -> dict[str, Counter[int]]:
        """Per stage (lower-case name): how often each probability is seen, on opportunities then on their
        history, in the order met (ties go to the first met). A stage's default probability is the most seen."""
        votes: dict[str, Counter[int]] = defaultdict(Counter)
        for part in (self.opportunity_probability_votes(), self.history_probability_votes()):
            for key, counts in part.items():
                votes[key].update(counts)
        return votes

    def opportunity_probability_votes(self) -> dict[str, Counter[int]]:
        votes: dict[str, Counter[int]] = defaultdict(Counter)
        for _row, r in self.opportunities.rows():
            name = r["StageName"].strip()
            try:
                probability = parse_amount(r.get("Probability", ""))
            except CellError:
                probability = None
            if name and probability is not None and probability <= 100:
                votes[name.lower()][int(probability)] += 1
        return votes

    def history_probability_votes(self) -> dict[str, Counter[int]]:
        votes: dict[str, Counter[int]] = defaultdict(Counter)
        for snapshots in self.history.values():
            for s in snapshots:
                if s.stage and s.probability is not None and s.probability <= 100:
                    votes[s.stage.lower()][int(s.probability)] += 1
        return votes

    def pipeline(self) -> PipelineSpec:
        return PipelineSpec(name=PIPELINE, stages=self.stage_spec)

    # --- deals ---------------------------------------------------------------------------------------
    def deals(self) -> Iterator[DealRecord | None]:
        ctx, tz = self.ctx, self.ctx.tz
        kinds = {name.lower(): kind for name, _p, kind in self.stage_spec}
        counts: Counter[str] = Counter()
        has_flags = "IsClosed" in self.opportunities.columns
        for row, r in self.opportunities.rows():
            if _flag(r.get("IsDeleted", "")):
                counts["deleted"] += 1
                continue
            problems: list[tuple[str, str]] = []
            oid, name, stage = sf_id(r["Id"]), r["Name"].strip(), r["StageName"].strip()
            if not oid:
                problems.append(("Id", "is blank"))
            if not stage:
                problems.append(("StageName", "is blank"))
            parsed, cell_problems = check_row_cells(
                r,
                text_columns=("Name", "StageName", "Description", "LeadSource", "Type"),
                parsers=(
                    ("CreatedDate", lambda v: sf_datetime(v, tz)),
                    ("LastModifiedDate", lambda v: sf_datetime(v, tz)),
                    ("CloseDate", lambda v: sf_datetime(v, tz)),
                    ("Amount", parse_amount),
                    ("Probability", parse_amount),
                ),
            )
            problems.extend(cell_problems)
            if parsed.get("Probability") is not None and parsed["Probability"] > 100:
                problems.append(("Probability", f"probability {parsed['Probability']} is over 100"))
            if "CreatedDate" in parsed and parsed["CreatedDate"] is None:
                problems.append(("CreatedDate", "is blank"))
            if problems:
                for column, message in problems:
                    ctx.error(row, column, message, self.file)
                yield None
                continue
            yield self._record(row, r, oid, name, stage, parsed, kinds, has_flags, counts)
        self._reconcile(counts)

    def _record(
        self,
        row: int,
        r: dict[str, str],
        oid: str,
        name: str,
        stage: str,
        parsed: dict[str, Any],
        kinds: dict[str, str],
        has_flags: bool,
        counts: Counter[str],
    ) -> DealRecord:
        created: datetime = parsed["CreatedDate"]
        close = parsed["CloseDate"].date() if parsed["CloseDate"] else None
        amount, probability = parsed["Amount"], parsed["Probability"]
        snapshots = self.history.get(oid, [])
        if amount is None:
            counts["no_amount"] += 1
        if close and close < created.date():
            counts["close_before_created"] += 1
        first = snapshots[0] if snapshots else None
        if first is not None and first.at < created:
            created = first.at
        account = sf_id(r.get("AccountId", ""))
        if account and account not in self.accounts:
            counts["unknown_account"] += 1
        owner = sf_id(r.get("OwnerId", ""))
        if owner:
            self.owners.add(owner)
        contact_keys = [c for c in [sf_id(r.get("ContactId", "")), *self.roles.get(oid, [])] if c]
        attributes = {k: r[k].strip() for k in ("Type", "ForecastCategory", "NextStep") if r.get(k, "").strip()}
        record = DealRecord(
            row=row,
            external_id=oid,
            title=name or oid,
            created_at=created,
            stage=first.stage if first is not None and first.stage else stage,
            amount=(first.amount if first is not None else amount) or Decimal(0),
            owner_key=owner or None,
            company_key=account if account in self.accounts else None,
            expected_close_date=first.close if first is not None else close,
            probability=first.probability if first is not None else probability,
            source=r.get("LeadSource", "").strip(),
            description=r.get("Description", "").strip(),
            attributes=attributes,
            contact_keys=list(dict.fromkeys(contact_keys)),
        )
        if first is not None:
            counts["with_history"] += 1
        for s in snapshots[1:]:
            record.changes.extend(_changes(s.at, s.stage, s.amount or Decimal(0), s.close, s.probability))
        # The opportunity's current values are the truth; history may stop short of them.
        last_at = max((s.at for s in snapshots), default=created)
        final_at = (
            parsed["LastModifiedDate"]
            if parsed["LastModifiedDate"] and parsed["LastModifiedDate"] > last_at
            else last_at
        )
        record.changes.extend(_changes(final_at, stage, amount or Decimal(0), close, probability))
        if has_flags:
            outcome = "won" if _flag(r.get("IsWon", "")) else "lost" if _flag(r["IsClosed"]) else "open"
            if kinds.get(stage.lower()) != outcome:
                counts["outcome_override"] += 1
                record.changes.append(Change(at=final_at, field="outcome_stage", value=(stage, outcome)))
        return record

    def _reconcile(self, counts: Counter[str]) -> None:
        messages = {
            "deleted": "deleted opportunities (IsDeleted) were skipped",
            "no_amount": "opportunities have no Amount: imported with amount 0",
            "close_before_created": "opportunities have a CloseDate before their CreatedDate: dates kept as exported",
            "unknown_account": "opportunities name an AccountId that is not in Account.csv: imported without a company",
            "outcome_override": "opportunities have IsClosed/IsWon at odds with their stage's kind: outcome follows "
            "IsClosed/IsWon",
        }
        for key, message in messages.items():
            if counts[key]:
                self.ctx.reconcile(f"{counts[key]} {message}")
        if self.history:
            self.ctx.reconcile(f"{counts['with_history']} opportunities have stage history from OpportunityHistory")

    # --- people and companies ------------------------------------------------------------------------
    def companies(self) -> list[CompanyRecord]:
        return list(self.accounts.values())

    def contacts(self) -> list[ContactRecord]:
        return self.contact_records

    def teams(self) -> list[TeamRecord]:
        return []

    def members(self) -> list[MemberRecord]:
        members = []
        unnamed = 0
        for owner in sorted(self.owners):
            name, email = self.users.get(owner, ("", ""))
            if not name:
                unnamed += 1
            members.append(MemberRecord(key=owner, display_name=name or f"Salesforce user {owner}", email=email))
        if unnamed:
            self.ctx.reconcile(f"opportunity owners not in a User.csv ({unnamed}): named by their Salesforce id")
        return members


def _changes(
    at: datetime, stage: str, amount: Decimal, close: date | None, probability: Decimal | None
) -> list[Change]:
    changes = [Change(at=at, field="amount", value=amount), Change(at=at, field="expected_close_date", value=close)]
    if probability is not None:
        changes.append(Change(at=at, field="probability", value=probability))
    if stage:
        changes.append(Change(at=at, field="stage", value=stage))
    return changes


def stage_chance(key: str, kind: str, votes: Counter[int]) -> int:
    """A stage's default probability: the one most seen on its deals, else the standard one for its name or kind."""
    if votes:
        return votes.most_common(1)[0][0]
    return STANDARD_PROBABILITY.get(key, {"won": 100, "lost": 0}.get(kind, 50))
