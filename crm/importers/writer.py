"""Upserting records by external id with bulk writes, replaying each deal's changes into DealHistory."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.db.models import JSONField, Max, Model
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from crm.importers.records import (
    CompanyRecord,
    ContactRecord,
    Context,
    DealRecord,
    MemberRecord,
    PipelineSpec,
    TeamRecord,
)
from crm.models import ChangeSource, Company, Contact, Deal, DealHistory, Outcome, Pipeline, Stage, StageKind
from crm.models import TrackedField as F
from crm.services import history_value, probability_is_manual
from tenancy.models import Membership, Team, Workspace

_KIND_OUTCOME: dict[str, str] = {StageKind.OPEN: Outcome.OPEN, StageKind.WON: Outcome.WON, StageKind.LOST: Outcome.LOST}
_OUTCOME_KIND: dict[str, str] = {Outcome.WON: StageKind.WON, Outcome.LOST: StageKind.LOST}
_TRACKED = (
    (F.STAGE, "stage_id"),
    (F.AMOUNT, "amount"),
    (F.EXPECTED_CLOSE_DATE, "expected_close_date"),
    (F.OWNER, "owner_id"),
    (F.PROBABILITY, "probability"),
    (F.OUTCOME, "outcome"),
)
_TRACKED_ATTR: dict[str, str] = {str(f): attr for f, attr in _TRACKED}
_PLAIN = (
    "title", "description", "company_id", "currency", "source", "attributes", "amount_is_estimated", "lost_reason",
)  # fmt: skip


class Writer:
    """Writes inside the caller's transaction; counts go to the context's report."""

    def __init__(self, *, workspace: Workspace, ctx: Context, spec: PipelineSpec, actor: Membership | None) -> None:
        self.ws = workspace
        self.ctx = ctx
        self.report = ctx.report
        self.actor = actor
        self.pipeline = self._pipeline(spec)
        self.stages = {s.name.lower(): s for s in Stage.objects.filter(pipeline=self.pipeline)}
        self._first_of_kind: dict[str, Stage] = {}  # stages added later are open, so this never goes stale
        self.members: dict[str, int] = {}
        self.companies: dict[str, int] = {}
        self.contacts: dict[str, int] = {}
        self._member_index = _Index(
            Membership.objects.filter(workspace=workspace), ("external_id", "email", "display_name")
        )
        self._company_index = _Index(Company.objects.filter(workspace=workspace), ("external_id", "name"))
        # A first import into a workspace has nothing to update: skip the per-batch lookup of existing deals.
        # (Ids repeated within the file were refused by the checking pass.)
        self._deals_may_exist = Deal.all_objects.filter(workspace=workspace).exclude(external_id="").exists()

    # --- pipeline and stages -------------------------------------------------------------------------
    def _pipeline(self, spec: PipelineSpec) -> Pipeline:
        if spec.name is None:
            pipeline = Pipeline.objects.filter(workspace=self.ws, is_default=True).first()
            if pipeline is None:
                pipeline = Pipeline.objects.create(workspace=self.ws, name="Sales", is_default=True)
        else:
            pipeline = Pipeline.objects.filter(workspace=self.ws, name__iexact=spec.name).first()
            if pipeline is None:
                has_default = Pipeline.objects.filter(workspace=self.ws, is_default=True).exists()
                pipeline = Pipeline.objects.create(workspace=self.ws, name=spec.name, is_default=not has_default)
        existing = {s.name.lower() for s in Stage.objects.filter(pipeline=pipeline)}
        order = Stage.objects.filter(pipeline=pipeline).aggregate(m=Max("order"))["m"]
        order = -1 if order is None else order
        for name, probability, kind in spec.stages:
            if name.lower() not in existing:
                order += 1
                Stage.objects.create(
                    workspace=self.ws,
                    pipeline=pipeline,
                    name=name,
                    order=order,
                    default_probability=probability,
                    kind=kind,
                )
        return pipeline

    def stage_for(self, name: str | None, outcome: str | None) -> Stage:
        """The stage called `name`, or the first stage of `outcome`'s kind; an unknown name becomes a new open stage."""
        found = self.stages.get(name.strip().lower()) if name else None
        wanted_kind = _OUTCOME_KIND.get(outcome or "")
        if found is not None and (wanted_kind is None or found.kind == wanted_kind or outcome is None):
            return found
        if wanted_kind is not None:
            first = self._first_of_kind.get(wanted_kind)
            if first is None:
                first = next(
                    (s for s in sorted(self.stages.values(), key=lambda s: s.order) if s.kind == wanted_kind), None
                )
                if first is not None:
                    self._first_of_kind[wanted_kind] = first
            if first is not None:
                return first
        if found is not None:
            return found
        if not name:
            opens = sorted((s for s in self.stages.values() if s.kind == StageKind.OPEN), key=lambda s: s.order)
            if opens:
                return opens[0]
            name = "Open"
        order = max((s.order for s in self.stages.values()), default=-1) + 1
        stage = Stage.objects.create(
            workspace=self.ws, pipeline=self.pipeline, name=name.strip()[:120], order=order, default_probability=50
        )
        self.stages[stage.name.lower()] = stage
        self.report.reconcile(
            f"stage “{stage.name}” was not in the {self.pipeline.name} pipeline: added as an open stage"
        )
        return stage

    # --- people and companies ------------------------------------------------------------------------
    def write_teams_and_members(self, teams: list[TeamRecord], members: list[MemberRecord]) -> None:
        team_ids: dict[str, Team] = {t.name.lower(): t for t in Team.objects.filter(workspace=self.ws)}
        for record in teams:
            if record.name.lower() not in team_ids:
                team_ids[record.name.lower()] = Team.objects.create(workspace=self.ws, name=record.name)
        for person in members:
            team = team_ids.get(person.team.lower()) if person.team else None
            found = self._member_index.find(person.key, person.email, person.display_name)
            if found is None:
                member = Membership.objects.create(
                    workspace=self.ws,
                    user=None,
                    display_name=person.display_name[:150],
                    email=person.email,
                    role=person.role,
                    team=team,
                    external_id=person.key,
                )
                self._member_index.add(member)
                self.report.created["members"] += 1
            else:
                member = found
                if member.user_id is None and (
                    member.team_id != (team.id if team else None) or member.role != person.role
                ):
                    member.team, member.role = team, person.role
                    member.save(update_fields=["team", "role"])
                    self.report.updated["members"] += 1
            self.members[person.key] = member.id
        for record in teams:
            team = team_ids[record.name.lower()]
            parent = team_ids.get(record.parent.lower()) if record.parent else None
            manager_id = self.members.get(record.manager_key) if record.manager_key else None
            if team.parent_id != (parent.id if parent else None) or team.manager_id != manager_id:
                team.parent, team.manager_id = parent, manager_id
                team.save(update_fields=["parent", "manager"])

    def write_companies(self, records: Iterable[CompanyRecord]) -> None:
        records = list(records)
        fields = ("name", "industry", "employees", "annual_revenue", "location", "domain", "attributes")
        new: list[tuple[str, Company]] = []
        changed_rows: list[Company] = []
        changed_fields: set[str] = set()
        for record in records:
            values = {f: getattr(record, f) for f in fields}
            values["name"] = values["name"][:200]
            found = self._company_index.find(record.key, record.name)
            if found is None:
                external_id = record.key[:255] if record.store_key else ""
                company = Company(workspace=self.ws, external_id=external_id, **values)
                self._company_index.add(company)
                new.append((record.key, company))
                continue
            changed = [f for f in fields if _differs(getattr(found, f), values[f], f)]
            if changed:
                for f in changed:
                    setattr(found, f, values[f])
                changed_rows.append(found)
                changed_fields.update(changed)
            self.companies[record.key] = found.id
        attnames = [f.attname for f in Company._meta.concrete_fields if not f.primary_key]
        ids = copy_insert(Company, [{a: getattr(c, a) for a in attnames} for _, c in new], now=self.ctx.now)
        for (key, company), pk in zip(new, ids, strict=True):
            company.pk = pk
            self.companies[key] = pk
        if changed_rows:
            Company.objects.bulk_update(changed_rows, sorted(changed_fields), batch_size=1000)
        self.report.created["companies"] += len(new)
        self.report.updated["companies"] += len(changed_rows)
        current = dict(
            Company.objects.filter(
                pk__in=[self.companies[r.key] for r in records if r.parent_key is not None]
            ).values_list("pk", "parent_id")
        )
        reparent = []
        for record in records:
            if record.parent_key is None:
                continue
            company_id, parent_id = self.companies[record.key], self.companies.get(record.parent_key)
            if current.get(company_id) != parent_id:
                reparent.append(Company(pk=company_id, parent_id=parent_id))
        Company.objects.bulk_update(reparent, ["parent_id"], batch_size=1000)

    def write_contacts(self, records: Iterable[ContactRecord]) -> None:
        existing = {c.external_id: c for c in Contact.objects.filter(workspace=self.ws).exclude(external_id="")}
        fields = ("first_name", "last_name", "email", "phone", "title", "company_id")
        for record in records:
            values = {
                "first_name": record.first_name[:100],
                "last_name": record.last_name[:100],
                "email": record.email,
                "phone": record.phone[:50],
                "title": record.title[:150],
                "company_id": self.companies.get(record.company_key) if record.company_key else None,
            }
            contact = existing.get(record.key)
            if contact is None:
                contact = Contact.objects.create(workspace=self.ws, external_id=record.key[:255], **values)
                self.report.created["contacts"] += 1
            else:
                changed = [f for f in fields if getattr(contact, f) != values[f]]
                if changed:
                    for f in changed:
                        setattr(contact, f, values[f])
                    contact.save(update_fields=changed)
                    self.report.updated["contacts"] += 1
            self.contacts[record.key] = contact.id

    # --- deals ---------------------------------------------------------------------------------------
    def _replay(
        self, record: DealRecord
    ) -> tuple[dict[str, Any], list[tuple[datetime, str, Any, Any]], dict[str, datetime], int]:
        """The deal's final values, its history [(at, field, old, new)], when each field last changed, first stage."""
        stage = self.stage_for(record.stage, record.outcome)
        state: dict[str, Any] = {
            "stage_id": stage.id,
            "amount": record.amount,
            "expected_close_date": record.expected_close_date,
            "owner_id": self.members.get(record.owner_key) if record.owner_key else None,
            "probability": record.probability,
            "outcome": _KIND_OUTCOME[stage.kind],
            "closed_at": None,
            "stage_entered_at": record.created_at,
        }
        initial_stage = stage.id
        if state["outcome"] != Outcome.OPEN:
            state["closed_at"] = record.created_at
        events: list[tuple[datetime, str, Any, Any]] = []
        last_at: dict[str, datetime] = {}
        new_values: list[tuple[str, str, Any]]
        for change in sorted(record.changes, key=lambda c: c.at):
            at = change.at
            if change.field == F.STAGE:
                stage = self.stage_for(change.value, None)
                new_values = [("stage_id", F.STAGE, stage.id), ("outcome", F.OUTCOME, _KIND_OUTCOME[stage.kind])]
            elif change.field == "outcome_stage":
                stage = self.stage_for(*change.value)
                new_values = [("stage_id", F.STAGE, stage.id), ("outcome", F.OUTCOME, _KIND_OUTCOME[stage.kind])]
            elif change.field == F.OWNER:
                new_values = [("owner_id", F.OWNER, self.members.get(change.value) if change.value else None)]
            else:
                new_values = [(_TRACKED_ATTR[change.field], change.field, change.value)]
            for attr, field, new in new_values:
                old = state[attr]
                if old == new:
                    continue
                events.append((at, field, old, new))
                last_at[attr] = at
                state[attr] = new
                if attr == "stage_id":
                    state["stage_entered_at"] = at
                if attr == "outcome":
                    state["closed_at"] = None if new == Outcome.OPEN else at
        return state, events, last_at, initial_stage

    def _plain(self, record: DealRecord) -> dict[str, Any]:
        return {
            "title": record.title[:200] or record.external_id[:200],
            "description": record.description,
            "company_id": self.companies.get(record.company_key) if record.company_key else None,
            "currency": record.currency or self.ctx.currency,
            "source": record.source[:100],
            "attributes": record.attributes,
            "amount_is_estimated": record.amount_is_estimated,
            "lost_reason": record.lost_reason[:200],
        }

    def write_deals(self, records: list[DealRecord]) -> None:
        existing = (
            {
                d.external_id: d
                # Deleted deals too: their ids stay taken, and an import keeps them current but deleted.
                for d in Deal.all_objects.filter(workspace=self.ws, external_id__in=[r.external_id for r in records])
            }
            if self._deals_may_exist
            else {}
        )
        new_rows: list[dict[str, Any]] = []
        new_events: list[tuple[DealRecord, int, list]] = []
        to_update: list[Deal] = []
        history: list[dict[str, Any]] = []
        update_fields: set[str] = set()
        for record in records:
            state, events, last_at, initial_stage = self._replay(record)
            plain = self._plain(record)
            self.report.deals_by_outcome[state["outcome"]] += 1
            deal = existing.get(record.external_id)
            if deal is None:
                new_rows.append(
                    {
                        "workspace_id": self.ws.id,
                        "pipeline_id": self.pipeline.id,
                        "external_id": record.external_id[:255],
                        "created_at": record.created_at,
                        **plain,
                        **state,
                        "probability_is_manual": _manual(record, state["probability"]),
                    }
                )
                new_events.append((record, initial_stage, events))
                continue
            changed = False
            for field, attr in _TRACKED:
                old, new = getattr(deal, attr), state[attr]
                if _differs(old, new, attr):
                    at = max(last_at.get(attr, self.ctx.now), deal.created_at)
                    history.append(self._history(deal.id, field, old, new, at))
                    setattr(deal, attr, new)
                    update_fields.add(attr)
                    if attr == "stage_id":
                        deal.stage_entered_at = state["stage_entered_at"]
                        update_fields.add("stage_entered_at")
                    if attr == "outcome":
                        deal.closed_at = state["closed_at"]
                        update_fields.add("closed_at")
                    if attr == "probability":
                        deal.probability_is_manual = _manual(record, new)
                        update_fields.add("probability_is_manual")
                    changed = True
            for attr, new in plain.items():
                if _differs(getattr(deal, attr), new, attr):
                    setattr(deal, attr, new)
                    update_fields.add(attr)
                    changed = True
            if deal.pipeline_id != self.pipeline.id:
                deal.pipeline_id = self.pipeline.id
                update_fields.add("pipeline_id")
            if changed:
                to_update.append(deal)
                self.report.updated["deals"] += 1
                self.report.deal_ids.append(deal.id)
        new_ids = copy_insert(Deal, new_rows, now=self.ctx.now)
        for deal_id, (record, initial_stage, events) in zip(new_ids, new_events, strict=True):
            history.append(
                {
                    "workspace_id": self.ws.id,
                    "deal_id": deal_id,
                    "field": F.CREATED,
                    "old_value": None,
                    "new_value": {"stage": initial_stage, "amount": history_value(record.amount)},
                    "changed_at": record.created_at,
                    "changed_by_id": self.actor.id if self.actor else None,
                    "source": ChangeSource.IMPORT,
                }
            )
            history.extend(self._history(deal_id, f, old, new, at) for at, f, old, new in events)
        self.report.deal_ids.extend(new_ids)
        self.report.created["deals"] += len(new_ids)
        if to_update:
            update_fields.add("updated_at")
            Deal.all_objects.bulk_update(to_update, sorted(update_fields), batch_size=1000)
        copy_insert(DealHistory, history, now=self.ctx.now)
        self.report.created["history"] += len(history)
        ids_by_external = {d.external_id: d.id for d in existing.values()}
        ids_by_external.update({row["external_id"]: pk for row, pk in zip(new_rows, new_ids, strict=True)})
        self._link_contacts(records, ids_by_external)

    def _history(self, deal_id: int, field: str, old: Any, new: Any, at: datetime) -> dict[str, Any]:
        return {
            "workspace_id": self.ws.id,
            "deal_id": deal_id,
            "field": field,
            "old_value": history_value(old),
            "new_value": history_value(new),
            "changed_at": at,
            "changed_by_id": self.actor.id if self.actor else None,
            "source": ChangeSource.IMPORT,
        }

    def _link_contacts(self, records: list[DealRecord], ids_by_external: dict[str, int]) -> None:
        if not any(r.contact_keys for r in records):
            return
        through = Deal.contacts.through
        links = [
            through(deal_id=ids_by_external[r.external_id], contact_id=self.contacts[key])
            for r in records
            for key in r.contact_keys
            if key in self.contacts and r.external_id in ids_by_external
        ]
        through.objects.bulk_create(links, ignore_conflicts=True)


def _manual(record: DealRecord, probability: Any) -> bool:
    return probability is not None and probability_is_manual(
        source_of_change=ChangeSource.IMPORT, declared=record.probability_is_manual
    )


def copy_insert(model: type[Model], rows: list[dict[str, Any]], *, now: datetime) -> list[int]:
    """Insert rows (dicts of attribute names) with COPY, much faster than INSERT for thousands of rows.

    Ids come from the table's sequence first and are returned in order. Missing columns get the
    field's default, so a column added to the model later keeps working.
    """
    if not rows:
        return []
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    keys = rows[0].keys()
    # Rows of one batch carry the same keys: one C-level itemgetter call reads them all, and the
    # columns nobody gave are filled from a per-batch plan (COPY takes the columns in any order).
    uniform = all(row.keys() == keys for row in rows)
    given = [f for f in fields if uniform and f.attname in keys]
    rest = [f for f in fields if f not in given]
    constants: list[Any] = []
    factories: list[Any] = []
    for f in rest:
        if f.default is uuid.uuid4:
            factories.append(iter(_random_uuids(len(rows))).__next__)  # one call to the OS per batch
        elif getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            factories.append(lambda: now)
        elif f.has_default() and callable(f.default):
            default = f.default
            factories.append((lambda d=default: _json_if(d())) if isinstance(f, JSONField) else default)
        else:
            value = f.get_default()
            constants.append(value)
            factories.append(None)
    json_positions = [i for i, f in enumerate(given) if isinstance(f, JSONField)]
    read = itemgetter(*[f.attname for f in given]) if given else (lambda row: ())
    single = len(given) == 1
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, meta.pk.column, len(rows)],
        )
        ids = [pk for (pk,) in cursor.fetchall()]
        names = [meta.pk.column, *(f.column for f in given), *(f.column for f in rest)]
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(meta.db_table), sql.SQL(", ").join([sql.Identifier(str(c)) for c in names])
        )
        # The queued writer sends data from a thread, so the server digests one chunk while we format the next.
        with cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:
            write_row = copy.write_row
            for pk, row in zip(ids, rows, strict=True):
                found = read(row)
                values = [pk, found] if single else [pk, *found]
                for i in json_positions:
                    if values[i + 1] is not None:
                        values[i + 1] = json_text(values[i + 1])
                if rest:
                    given_count = len(values)
                    constant = iter(constants)
                    for factory in factories:
                        values.append(factory() if factory is not None else next(constant))
                    for position, f in enumerate(rest, start=given_count):
                        if not uniform and f.attname in row:
                            values[position] = row[f.attname]
                        if isinstance(f, JSONField) and not uniform and values[position] is not None:
                            values[position] = json_text(values[position])
                write_row(values)
    return ids


def _json_if(value: Any) -> Any:
    return None if value is None else json_text(value)


def _random_uuids(n: int) -> list[uuid.UUID]:
    pool = os.urandom(16 * n)
    return [uuid.UUID(bytes=pool[i : i + 16], version=4) for i in range(0, 16 * n, 16)]


_ENCODER = DjangoJSONEncoder(separators=(", ", ": "))


def json_text(value: Any) -> str:
    """JSON for a COPY row; the common history values (ids, codes, decimal strings) skip the encoder."""
    kind = type(value)
    if kind is int:
        return str(value)
    if kind is str and _plain_text(value):
        return f'"{value}"'
    if kind is dict and len(value) <= 4:  # the "created" entry: {"stage": id, "amount": "1200.00"}
        parts = []
        for key, item in value.items():
            if type(key) is not str or not _plain_text(key):
                return _ENCODER.encode(value)
            if type(item) is int:
                parts.append(f'"{key}": {item}')
            elif type(item) is str and _plain_text(item):
                parts.append(f'"{key}": "{item}"')
            else:
                return _ENCODER.encode(value)
        return "{" + ", ".join(parts) + "}"
    return _ENCODER.encode(value)


def _plain_text(text: str) -> bool:
    """Text that is its own JSON string body: printable ASCII without quotes or backslashes."""
    return text.isascii() and text.isprintable() and '"' not in text and "\\" not in text


def _differs(old: Any, new: Any, attr: str) -> bool:
    if attr in {"amount", "annual_revenue", "probability"} and old is not None and new is not None:
        return Decimal(str(old)) != Decimal(str(new))
    return old != new


class _Index:
    """Find an existing row by the first of several keys that matches (external id, then email or name)."""

    def __init__(self, queryset: Any, fields: tuple[str, ...]) -> None:
        self.fields = fields
        self.maps: dict[str, dict[str, Any]] = {f: {} for f in fields}
        for obj in queryset:
            self.add(obj)

    def add(self, obj: Any) -> None:
        for f in self.fields:
            value = (getattr(obj, f) or "").strip().lower()
            if value:
                self.maps[f].setdefault(value, obj)

    def find(self, *values: str) -> Any:
        for f, value in zip(self.fields, values, strict=False):
            found = self.maps[f].get((value or "").strip().lower())
            if found is not None and (value or "").strip():
                return found
        return None
