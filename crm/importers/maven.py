"""Maven Analytics "CRM Sales Opportunities": sales_pipeline, accounts, products and sales_teams CSVs.

History: a deal is created at engage_date in "Engaging" valued at its product's list price (the file
has no value for open deals, so that amount is marked estimated); at close_date it moves to Won or
Lost, and a won deal's amount becomes its close_value. Lost deals carry close_value 0 in the file:
their amount stays the list price (what was at stake) and the 0 is kept in attributes.
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
from crm.importers.values import CellError, midnight, parse_amount, parse_date

STAGES = (("Prospecting", 10, "open"), ("Engaging", 30, "open"), ("Won", 100, "won"), ("Lost", 0, "lost"))
SECTOR_TYPOS = {"technolgy": "technology"}
MILLION = Decimal(1_000_000)
AGENT_KEY = "maven-agent:"


def _squash(name: str) -> str:
    return "".join(name.split()).lower()


class MavenFormat:
    def __init__(self, *, path: Path, mapping: dict[str, Any], ctx: Context) -> None:
        if not path.is_dir():
            raise FileProblem(f"{path} is not a folder; the Maven format is a folder with sales_pipeline.csv etc.")
        self.ctx = ctx
        self.pipeline_file = self._source(path, "sales_pipeline.csv")
        self.pipeline_file.require(
            "opportunity_id", "sales_agent", "product", "account", "deal_stage", "engage_date", "close_date",
            "close_value",
        )  # fmt: skip
        self.products = self._read_products(self._source(path, "products.csv"))
        self.accounts = self._read_accounts(self._source(path, "accounts.csv"))
        self.teams_by_agent = self._read_teams(self._source(path, "sales_teams.csv"))
        self.agents_with_deals: set[str] = set()

    def _source(self, folder: Path, name: str) -> CsvSource:
        for candidate in folder.iterdir():
            if candidate.name.lower() == name:
                return CsvSource(candidate, delimiter=",")
        raise FileProblem(f"{folder.name}/{name} is missing", file=name)

    def _read_products(self, src: CsvSource) -> dict[str, tuple[str, str, Decimal]]:
        src.require("product", "series", "sales_price")
        products: dict[str, tuple[str, str, Decimal]] = {}
        for row, r in src.rows():
            try:
                price = parse_amount(r["sales_price"])
            except CellError as exc:
                self.ctx.error(row, "sales_price", str(exc), src.path.name)
                continue
            name = r["product"].strip()
            products[_squash(name)] = (name, r["series"].strip(), price or Decimal(0))
        return products

    def _read_accounts(self, src: CsvSource) -> dict[str, CompanyRecord]:
        src.require("account", "sector", "revenue", "employees", "office_location", "subsidiary_of")
        accounts: dict[str, CompanyRecord] = {}
        typos: Counter[str] = Counter()
        for row, r in src.rows():
            name = r["account"].strip()
            sector = r["sector"].strip()
            if sector.lower() in SECTOR_TYPOS:
                typos[sector] += 1
                sector = SECTOR_TYPOS[sector.lower()]
            try:
                revenue = parse_amount(r["revenue"])
                employees = int(r["employees"]) if r["employees"].strip() else None
            except (CellError, ValueError) as exc:
                self.ctx.error(row, "revenue/employees", str(exc), src.path.name)
                continue
            attributes: dict[str, Any] = {}
            if r.get("year_established", "").strip().isdigit():
                attributes["year_established"] = int(r["year_established"])
            accounts[name.lower()] = CompanyRecord(
                key=name,
                name=name,
                industry=sector,
                employees=employees,
                annual_revenue=revenue * MILLION if revenue is not None else None,
                location=r["office_location"].strip(),
                parent_key=r["subsidiary_of"].strip() or None,
                attributes=attributes,
            )
        for typo, count in typos.items():
            self.ctx.reconcile(f"sector “{typo}” read as “{SECTOR_TYPOS[typo.lower()]}” ({count} accounts)")
        self.ctx.reconcile("account revenue is in millions of USD in the file: stored in USD (× 1,000,000)")
        for record in accounts.values():
            if record.parent_key and record.parent_key.lower() not in accounts:
                self.ctx.error(0, "subsidiary_of", f"{record.name}: parent “{record.parent_key}” is not an account")
        return accounts

    def _read_teams(self, src: CsvSource) -> dict[str, tuple[str, str]]:
        src.require("sales_agent", "manager", "regional_office")
        return {
            r["sales_agent"].strip(): (r["manager"].strip(), r["regional_office"].strip())
            for _row, r in src.rows()
            if r["sales_agent"].strip()
        }

    def pipeline(self) -> PipelineSpec:
        return PipelineSpec(name="Maven", stages=STAGES)

    def deals(self) -> Iterator[DealRecord | None]:
        ctx = self.ctx
        file = self.pipeline_file.path.name
        renamed: Counter[tuple[str, str]] = Counter()
        counts: Counter[str] = Counter()
        unknown_accounts: set[str] = set()
        for row, r in self.pipeline_file.rows():
            problems: list[tuple[str, str]] = []
            oid, agent, account = r["opportunity_id"].strip(), r["sales_agent"].strip(), r["account"].strip()
            stage = r["deal_stage"].strip()
            if not oid:
                problems.append(("opportunity_id", "is blank"))
            if not agent:
                problems.append(("sales_agent", "is blank"))
            product = self.products.get(_squash(r["product"]))
            if product is None:
                problems.append(("product", f"“{r['product']}” is not in products.csv"))
            elif product[0] != r["product"].strip():
                renamed[(r["product"].strip(), product[0])] += 1
            if stage not in {"Prospecting", "Engaging", "Won", "Lost"}:
                problems.append(("deal_stage", f"“{stage}” is not Prospecting, Engaging, Won or Lost"))
            engaged = closed = value = None
            try:
                engaged = parse_date(r["engage_date"], ctx.tz)
            except CellError as exc:
                problems.append(("engage_date", str(exc)))
            try:
                closed = parse_date(r["close_date"], ctx.tz)
            except CellError as exc:
                problems.append(("close_date", str(exc)))
            try:
                value = parse_amount(r["close_value"])
            except CellError as exc:
                problems.append(("close_value", str(exc)))
            if stage in {"Won", "Lost"}:
                if closed is None and "close_date" not in dict(problems):
                    problems.append(("close_date", f"a {stage.lower()} deal needs a close date"))
                if stage == "Won" and value is None and "close_value" not in dict(problems):
                    problems.append(("close_value", "a won deal needs a close value"))
            if stage != "Prospecting" and engaged is None and "engage_date" not in dict(problems):
                problems.append(("engage_date", "is blank"))
            if engaged and closed and closed < engaged:
                problems.append(("close_date", f"{closed} is before the engage date {engaged}"))
            if problems:
                for column, message in problems:
                    ctx.error(row, column, message, file)
                yield None
                continue
            assert product is not None
            self.agents_with_deals.add(agent)
            name, series, price = product
            attributes: dict[str, Any] = {"product": name, "series": series}
            if engaged is None:
                created = ctx.now
                attributes["undated"] = True
                counts["undated"] += 1
            else:
                created = midnight(engaged, ctx.tz)
            if account and account.lower() not in self.accounts:
                unknown_accounts.add(account)
            if not account:
                counts[f"blank_{stage}"] += 1
            record = DealRecord(
                row=row,
                external_id=oid,
                title=f"{name} – {account}" if account else f"{name} – {oid}",
                created_at=created,
                stage="Prospecting" if stage == "Prospecting" else "Engaging",
                amount=price,
                amount_is_estimated=True,
                owner_key=AGENT_KEY + agent,
                company_key=self.accounts[account.lower()].key if account.lower() in self.accounts else account or None,
                attributes=attributes,
            )
            if stage in {"Won", "Lost"} and closed is not None:
                at = midnight(closed, ctx.tz)
                record.changes.append(Change(at=at, field="stage", value=stage))
                if stage == "Won":
                    record.changes.append(Change(at=at, field="amount", value=value))
                    record.amount_is_estimated = False
                else:
                    attributes["close_value"] = float(value) if value is not None else None
                    counts["lost"] += 1
            else:
                counts["open"] += 1
            yield record
        self._reconcile_deals(renamed, counts, unknown_accounts)
        self.unknown_accounts = unknown_accounts

    def _reconcile_deals(self, renamed: Counter, counts: Counter, unknown_accounts: set[str]) -> None:
        ctx = self.ctx
        for (seen, canonical), n in renamed.items():
            ctx.reconcile(
                f"product “{seen}” in sales_pipeline.csv matched to “{canonical}” in products.csv ({n} deals)"
            )
        blank_open = counts["blank_Engaging"] + counts["blank_Prospecting"]
        if blank_open:
            ctx.reconcile(f"{blank_open} open deals have a blank account: imported without a company")
        blank_closed = counts["blank_Won"] + counts["blank_Lost"]
        if blank_closed:
            ctx.reconcile(f"{blank_closed} closed deals have a blank account: imported without a company")
        if counts["open"]:
            ctx.reconcile(
                f"{counts['open']} open deals have no value in the file: amount is the product's list price, "
                "marked estimated"
            )
        if counts["lost"]:
            ctx.reconcile(
                f"{counts['lost']} lost deals have close_value 0: amount kept at the product's list price (the value "
                "at stake, marked estimated); the file's close_value is in attributes.close_value"
            )
        if counts["undated"]:
            ctx.reconcile(
                f"{counts['undated']} prospecting deals have no engage date: created at import time, attributes.undated"
            )
        for account in sorted(unknown_accounts):
            ctx.reconcile(f"account “{account}” is not in accounts.csv: created with its name only")

    def companies(self) -> list[CompanyRecord]:
        extra = [CompanyRecord(key=a, name=a) for a in sorted(getattr(self, "unknown_accounts", ()))]
        return list(self.accounts.values()) + extra

    def contacts(self) -> list[ContactRecord]:
        return []

    def teams(self) -> list[TeamRecord]:
        teams: dict[str, TeamRecord] = {}
        for agent in sorted(self.agents_with_deals):
            if agent not in self.teams_by_agent:
                continue
            manager, office = self.teams_by_agent[agent]
            region = f"{office} region"
            teams.setdefault(region, TeamRecord(name=region))
            teams.setdefault(
                _team_name(manager),
                TeamRecord(name=_team_name(manager), parent=region, manager_key=AGENT_KEY + manager),
            )
        return list(teams.values())

    def members(self) -> list[MemberRecord]:
        members: list[MemberRecord] = []
        managers: dict[str, MemberRecord] = {}
        missing = []
        for agent in sorted(self.agents_with_deals):
            team = None
            if agent in self.teams_by_agent:
                manager, _office = self.teams_by_agent[agent]
                team = _team_name(manager)
                managers.setdefault(
                    manager, MemberRecord(key=AGENT_KEY + manager, display_name=manager, role="manager", team=team)
                )
            else:
                missing.append(agent)
            members.append(MemberRecord(key=AGENT_KEY + agent, display_name=agent, role="rep", team=team))
        idle = sorted(set(self.teams_by_agent) - self.agents_with_deals)
        if idle:
            self.ctx.reconcile(
                f"{len(idle)} agents in sales_teams.csv have no deals and were not created ({', '.join(idle)})"
            )
        if missing:
            self.ctx.reconcile(f"agents not in sales_teams.csv, created without a team: {', '.join(missing)}")
        return list(managers.values()) + members


def _team_name(manager: str) -> str:
    return f"{manager}'s team"
