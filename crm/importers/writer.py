"""Upserting records by external id with bulk writes, replaying each deal's changes into DealHistory."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any

from django.db.models import Max, Model
from django.utils import timezone

from crm import history
from crm.history import DealState
from crm.importers.records import (
    CompanyRecord,
    ContactRecord,
    Context,
    DealRecord,
    MemberRecord,
    PipelineSpec,
    TeamRecord,
)
from crm.models import (
    ChangeSource,
    Company,
    Contact,
    Deal,
    DealHistory,
    Outcome,
    Pipeline,
    Stage,
    StageKind,
    default_forecast_category,
)
from crm.models import TrackedField as F
from crm.services import probability_is_manual
from tenancy.models import Membership, Team, Workspace
from vectoros.bulk import copy_rows

_PLAIN = (
    "title", "description", "company_id", "currency", "source", "attributes", "amount_is_estimated", "lost_reason",
)  # fmt: skip


class Writer:
    """Writes inside the caller's transaction; counts go to the context's report."""

    def __init__(
        self,
        *,
        workspace: Workspace,
        ctx: Context,
        spec: PipelineSpec,
        actor: Membership | None,
        source: str = ChangeSource.IMPORT,
    ) -> None:
        self.ws = workspace
        self.source = source  # what history rows say wrote them: an import, or the live CRM sync
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
                    forecast_category=default_forecast_category(kind, float(probability)),
                )
        return pipeline

    def stage_for(self, name: str | None, outcome: str | None) -> Stage:
        """The stage called `name`, or the first stage of `outcome`'s kind; an unknown name becomes a new open stage."""
        found = self.stages.get(name.strip().lower()) if name else None
        wanted_kind = history.kind_of_outcome(outcome) if outcome != Outcome.OPEN else None
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
            workspace=self.ws,
            pipeline=self.pipeline,
            name=name.strip()[:120],
            order=order,
            default_probability=50,
            forecast_category=default_forecast_category(StageKind.OPEN, 50),
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
            else:
                self.report.unchanged["companies"] += 1
            self.companies[record.key] = found.id
        attnames = [f.attname for f in Company._meta.concrete_fields if not f.primary_key]
        ids = _copy_dicts(Company, [{a: getattr(c, a) for a in attnames} for _, c in new], now=self.ctx.now)
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
                else:
                    self.report.unchanged["contacts"] += 1
            self.contacts[record.key] = contact.id

    # --- deals ---------------------------------------------------------------------------------------
    def _replay(self, record: DealRecord) -> tuple[DealState, DealState, list[tuple[datetime, str, Any, Any]], dict]:
        """The deal's state when created and after its changes, its history [(at, field, old, new)] as JSON
        values, and when each attribute last changed."""
        stage = self.stage_for(record.stage, record.outcome)
        at = record.created_at
        initial = history.fold(
            [
                *history.stage_changes(stage.id, stage.kind, at),
                history.Change(F.AMOUNT, record.amount, at),
                history.Change(F.EXPECTED_CLOSE_DATE, record.expected_close_date, at),
                history.Change(F.OWNER, self.members.get(record.owner_key) if record.owner_key else None, at),
                history.Change(F.PROBABILITY, record.probability, at),
            ]
        )
        state = initial
        events: list[tuple[datetime, str, Any, Any]] = []
        last_at: dict[str, datetime] = {}
        for change in sorted(record.changes, key=lambda c: c.at):
            at = change.at
            if change.field == F.STAGE:
                stage = self.stage_for(change.value, None)
                steps = history.stage_changes(stage.id, stage.kind, at)
            elif change.field == "outcome_stage":
                stage = self.stage_for(*change.value)
                steps = history.stage_changes(stage.id, stage.kind, at)
            elif change.field == F.OWNER:
                steps = [history.Change(F.OWNER, self.members.get(change.value) if change.value else None, at)]
            else:
                steps = [history.Change(change.field, change.value, at)]
            for step in steps:
                after = history.apply(state, step)
                if after is state:
                    continue
                field = step.field
                events.append(
                    (at, field, history.encode(field, state.value(field)), history.encode(field, after.value(field)))
                )
                last_at[history.TRACKED_ATTRS[field]] = at
                state = after
        return initial, state, events, last_at

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
        if self._deals_may_exist:
            existing |= self._adopt_legacy_ids(records, existing)
        new_rows: list[dict[str, Any]] = []
        new_events: list[tuple[DealRecord, DealState, list]] = []
        to_update: list[Deal] = []
        rows: list[tuple[int, str, Any, Any, datetime]] = []  # history: deal id, field, old, new, at
        update_fields: set[str] = set()
        for record in records:
            initial, state, events, last_at = self._replay(record)
            plain = self._plain(record)
            self.report.deals_by_outcome[str(state.outcome)] += 1
            deal = existing.get(record.external_id)
            if deal is None:
                new_rows.append(
                    {
                        "workspace_id": self.ws.id,
                        "pipeline_id": self.pipeline.id,
                        "external_id": record.external_id[:255],
                        "created_at": record.created_at,
                        **plain,
                        **vars(state),
                        "probability_is_manual": _manual(record, state.probability),
                    }
                )
                new_events.append((record, initial, events))
                continue
            changed = False
            for field, old, new in history.diff(history.DealState.of(deal), state):
                attr = history.TRACKED_ATTRS[field]
                rows.append((deal.id, field, old, new, max(last_at.get(attr, self.ctx.now), deal.created_at)))
                setattr(deal, attr, state.value(field))
                update_fields.add(attr)
                if attr == "stage_id":
                    deal.stage_entered_at = state.stage_entered_at or deal.created_at
                    update_fields.add("stage_entered_at")
                if attr == "outcome":
                    deal.closed_at = state.closed_at
                    update_fields.add("closed_at")
                if attr == "probability":
                    deal.probability_is_manual = _manual(record, state.probability)
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
            else:
                self.report.unchanged["deals"] += 1
        new_ids = _copy_dicts(Deal, new_rows, now=self.ctx.now)
        for deal_id, (record, initial, events) in zip(new_ids, new_events, strict=True):
            rows.extend((deal_id, f, old, new, record.created_at) for f, old, new in history.creation_changes(initial))
            rows.extend((deal_id, f, old, new, at) for at, f, old, new in events)
        self.report.deal_ids.extend(new_ids)
        self.report.created["deals"] += len(new_ids)
        if to_update:
            update_fields.add("updated_at")
            touched = timezone.now()  # bulk_update skips auto_now: set it, so readers of recent changes see these
            for deal in to_update:
                deal.updated_at = touched
            Deal.all_objects.bulk_update(to_update, sorted(update_fields), batch_size=1000)
        actor_id = self.actor.id if self.actor else None
        copy_rows(
            DealHistory,
            ("workspace_id", "deal_id", "field", "old_value", "new_value", "changed_at", "changed_by_id", "source"),
            ((self.ws.id, *row, actor_id, self.source) for row in rows),
            now=self.ctx.now,
        )
        self.report.created["history"] += len(rows)
        ids_by_external = {d.external_id: d.id for d in existing.values()}
        ids_by_external.update({row["external_id"]: pk for row, pk in zip(new_rows, new_ids, strict=True)})
        self._link_contacts(records, ids_by_external)

    def _adopt_legacy_ids(self, records: list[DealRecord], existing: dict[str, Deal]) -> dict[str, Deal]:
        """Deals imported before content keys carry "<file>#<row>": the row that is still the same deal (same
        title and company) takes it over under its content key; any other deal on that row number is left alone."""
        legacy = {r.legacy_external_id: r for r in records if r.legacy_external_id and r.external_id not in existing}
        if not legacy:
            return {}
        adopted: dict[str, Deal] = {}
        for deal in Deal.all_objects.filter(workspace=self.ws, external_id__in=list(legacy)):
            record = legacy[deal.external_id]
            company_id = self.companies.get(record.company_key) if record.company_key else None
            if deal.title.strip().casefold() == record.title.strip().casefold() and deal.company_id == company_id:
                Deal.all_objects.filter(pk=deal.pk).update(external_id=record.external_id[:255])
                deal.external_id = record.external_id[:255]
                adopted[record.external_id] = deal
        return adopted

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


def _copy_dicts(model: type[Model], rows: list[dict[str, Any]], *, now: datetime) -> list[int]:
    """COPY rows given as dicts of attribute names (all with the same keys); their new ids in order."""
    if not rows:
        return []
    fields = list(rows[0])
    read = itemgetter(*fields)
    return copy_rows(model, fields, [read(row) for row in rows], with_ids=True, now=now)


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
