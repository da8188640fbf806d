"""Merging a duplicate record into another, and undoing it for 30 days: `record_merge`, `merge_undo`.

Merging B into A moves every row that points at B to A: deals, contacts, activities, subsidiaries, captured
mail and meetings, customers, comments — whatever any app links to it, found through Django's relations, so an
app added later is covered without a change here. What moved is written down row by row in a `MergeRecord`
(model, field, ids); an undo moves exactly those rows back and restores B with its own id and UUID.

- Companies and contacts: B is deleted once nothing points at it any more; its row is kept in the record.
  A link that A already has (the same contact on the same deal twice) is set aside, kept in the record, and
  put back by an undo. A one-to-one link both have (both companies are customers) refuses the merge: that
  needs a person's decision first.
- Deals: B's own history stays with B, which is soft-deleted (`deal_delete`), so every as-of reader still
  sees both deals' pasts as they were; activities, contacts and links to B move to A. Rows computed from a
  deal (scores, embeddings, forecasts, alerts, sync links) stay with B and are recomputed for A.

Audit rows (pghistory) are never moved: they say what happened to B.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core import serializers
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from crm import services
from crm.models import ChangeSource, Company, Contact, Deal, DuplicateDismissal, DuplicateKind, MergeRecord
from crm.models_merge import MERGE_UNDO_DAYS
from tenancy.models import Membership, Workspace

MODELS: dict[str, type[models.Model]] = {
    DuplicateKind.COMPANIES: Company,
    DuplicateKind.CONTACTS: Contact,
    DuplicateKind.DEALS: Deal,
}
# Rows computed from a deal, or its own past: they stay with the merged (soft-deleted) deal.
STAY_WITH_MERGED_DEAL = {"crm.dealhistory", "scoring", "similarity", "forecasting", "alerts", "sync", "audit"}


class MergeRefused(ValidationError):
    """The merge (or undo) cannot be done; the message says why, for a person."""


@dataclass(frozen=True)
class _Link:
    model: type[models.Model]
    field: models.ForeignKey  # on `model`, pointing at the merged kind

    @property
    def label(self) -> str:
        return self.model._meta.label_lower

    def rows(self, pk: int) -> models.QuerySet:
        return self.model._base_manager.filter(**{self.field.attname: pk})

    def unique_with(self) -> list[list[str]]:
        """The other columns of each unique rule this link is part of ([] alone: one row per record)."""
        name, attname = self.field.name, self.field.attname
        sets: list[tuple[str, ...]] = [tuple(u) for u in self.model._meta.unique_together]
        sets += [
            tuple(c.fields)
            for c in self.model._meta.constraints
            if isinstance(c, models.UniqueConstraint) and c.fields and c.condition is None
        ]
        if self.field.unique:
            sets.append((name,))
        meta, own = self.model._meta, {name, attname}
        return [[meta.get_field(f).attname for f in s if f not in own] for s in sets if own & set(s)]  # type: ignore[union-attr]  # unique sets name concrete fields


def _links(model: type[models.Model]) -> list[_Link]:
    found = []
    for rel in model._meta.get_fields(include_hidden=True):
        if not (rel.auto_created and not rel.concrete and (rel.one_to_many or rel.one_to_one)):
            continue
        fk = rel.field  # type: ignore[union-attr]  # a reverse relation always has its field
        if fk.remote_field.on_delete is models.DO_NOTHING:  # pghistory's audit rows: B's own past
            continue
        found.append(_Link(model=rel.related_model, field=fk))  # type: ignore[arg-type]  # a model class here
    return sorted(found, key=lambda link: (link.label, link.field.attname))


def _stays(kind: str, link: _Link) -> bool:
    return kind == DuplicateKind.DEALS and (
        link.label in STAY_WITH_MERGED_DEAL or link.model._meta.app_label in STAY_WITH_MERGED_DEAL
    )


def _serialise(objects: list[models.Model]) -> list[dict[str, Any]]:
    return json.loads(serializers.serialize("json", objects)) if objects else []


def _restore(rows: list[dict[str, Any]]) -> None:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            # Foreign keys are checked at commit by default; checked now, a dangling one is a refusal, not a 500.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for obj in serializers.deserialize("json", json.dumps(rows)):
                obj.save()
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    except (IntegrityError, serializers.base.DeserializationError) as exc:
        # E.g. its parent company was deleted since: nothing is restored rather than half of it.
        raise MergeRefused(f"the merged record cannot be restored as it was ({exc}); nothing was changed") from None


def _label(obj: models.Model) -> str:
    if isinstance(obj, Contact):
        return (f"{obj.first_name} {obj.last_name}".strip() or obj.email)[:200]
    return str(obj)[:200]


@transaction.atomic
def record_merge(
    *, workspace: Workspace, kind: str, target: models.Model, source: models.Model, actor: Membership | None
) -> MergeRecord:
    """Merge `source` into `target` (both of `workspace`, already checked to be in the caller's sight)."""
    model = MODELS[kind]
    if not isinstance(target, model) or not isinstance(source, model):
        raise MergeRefused(f"both records must be {kind}")
    if target.pk == source.pk:
        raise MergeRefused("a record cannot be merged into itself")
    if target.workspace_id != workspace.id or source.workspace_id != workspace.id:  # type: ignore[attr-defined]
        raise MergeRefused("both records must belong to this workspace")
    # Lock both rows (in id order, so two opposite merges cannot deadlock) and re-read them.
    manager = model._base_manager
    locked = {o.pk: o for o in manager.select_for_update().filter(pk__in=[target.pk, source.pk]).order_by("pk")}
    if len(locked) != 2:
        raise MergeRefused("one of the records no longer exists")
    target, source = locked[target.pk], locked[source.pk]
    if isinstance(source, Deal) and source.deleted_at is not None:
        raise MergeRefused("that deal is deleted")
    if isinstance(target, Deal) and target.deleted_at is not None:
        raise MergeRefused("the deal to keep is deleted")
    if isinstance(target, Company) and target.parent_id == source.pk:
        raise MergeRefused(f"“{target}” is a subsidiary of “{source}”: change its parent company first")

    moved: list[dict[str, Any]] = []
    set_aside: list[models.Model] = []
    touched_deals: set[int] = set()
    for link in _links(model):
        if _stays(kind, link):
            continue
        rows = link.rows(source.pk)
        if link.model is model:
            rows = rows.exclude(pk=target.pk)
        clash: set[int] = set()
        for others in link.unique_with():
            taken = set(link.rows(target.pk).values_list(*others)) if others else None
            for pk, *values in rows.values_list("pk", *others):
                if taken is None:
                    if link.rows(target.pk).exists():
                        clash.add(pk)
                elif tuple(values) in taken:
                    clash.add(pk)
        if clash:
            if not link.model._meta.auto_created:
                what = link.model._meta.verbose_name
                raise MergeRefused(f"both have a {what}; merge or remove one of them first (nothing was changed)")
            set_aside.extend(link.model._base_manager.filter(pk__in=clash))
            link.model._base_manager.filter(pk__in=clash).delete()
        pks = sorted(rows.exclude(pk__in=clash).values_list("pk", flat=True))
        if not pks:
            continue
        link.model._base_manager.filter(pk__in=pks).update(**{link.field.attname: target.pk})
        moved.append({"model": link.label, "field": link.field.attname, "pks": pks})
        touched_deals |= _deal_ids(link, pks)

    record = MergeRecord(
        workspace=workspace,
        kind=kind,
        target_uuid=target.uuid,  # type: ignore[attr-defined]
        source_uuid=source.uuid,  # type: ignore[attr-defined]
        target_label=_label(target),
        source_label=_label(source),
        moved=moved,
        set_aside=_serialise(set_aside),
        merged_by=actor,
    )
    if isinstance(source, Deal):
        services.deal_delete(deal=source, actor=actor, source_of_change=ChangeSource.SYSTEM)
        touched_deals |= {target.pk, source.pk}
    else:
        record.source_row = _serialise([source])
        left = [link.label for link in _links(model) if link.rows(source.pk).exists()]
        if left:  # a cascade would delete them: refuse rather than lose anything
            raise MergeRefused(f"rows of {', '.join(left)} still point at “{source}”; nothing was changed")
        source.delete()
    record.save()
    if touched_deals:
        services.deals_changed(workspace_id=workspace.id, deal_ids=sorted(touched_deals))
    return record


def _deal_ids(link: _Link, pks: list[int]) -> set[int]:
    """Deals whose facts changed with the rows moved (their company, contacts or activities)."""
    if link.model is Deal:
        return set(pks)
    names = {f.attname for f in link.model._meta.concrete_fields}
    if "deal_id" in names:
        return set(link.model._base_manager.filter(pk__in=pks, deal_id__isnull=False).values_list("deal_id", flat=True))
    return set()


@transaction.atomic
def merge_undo(*, record: MergeRecord, actor: Membership | None) -> MergeRecord:
    """Restore the merged record and move back every row the merge moved (within MERGE_UNDO_DAYS)."""
    record = MergeRecord.objects.select_for_update().get(pk=record.pk)
    if record.undone_at is not None:
        raise MergeRefused(f"this merge was already undone on {record.undone_at:%Y-%m-%d}")
    if not record.can_undo:
        raise MergeRefused(
            f"this merge was made on {record.merged_at:%Y-%m-%d}; a merge can be undone for {MERGE_UNDO_DAYS} days"
        )
    model = MODELS[record.kind]
    target = model._base_manager.filter(workspace_id=record.workspace_id, uuid=record.target_uuid).first()
    if target is None:
        raise MergeRefused(f"“{record.target_label}” has been deleted since; the merge cannot be undone")
    touched: set[int] = set()
    source: models.Model
    if record.kind == DuplicateKind.DEALS:
        source = Deal.all_objects.get(workspace_id=record.workspace_id, uuid=record.source_uuid)
        services.deal_restore(deal=source, actor=actor, source_of_change=ChangeSource.SYSTEM)
        touched |= {target.pk, source.pk}
    else:
        if model._base_manager.filter(uuid=record.source_uuid).exists():
            raise MergeRefused(f"“{record.source_label}” exists again; the merge cannot be undone")
        _restore(record.source_row)
        source = model._base_manager.get(uuid=record.source_uuid)
    for entry in record.moved:
        related = apps.get_model(entry["model"])
        rows = related._base_manager.filter(pk__in=entry["pks"], **{entry["field"]: target.pk})
        ids = list(rows.values_list("pk", flat=True))
        rows.update(**{entry["field"]: source.pk})
        touched |= _deal_ids(_Link(model=related, field=related._meta.get_field(entry["field"])), ids)
    _restore(record.set_aside)
    record.undone_at, record.undone_by = timezone.now(), actor
    record.save(update_fields=["undone_at", "undone_by"])
    if touched:
        services.deals_changed(workspace_id=record.workspace_id, deal_ids=sorted(touched))
    return record


def duplicate_dismiss(*, workspace: Workspace, kind: str, a: object, b: object, actor: Membership | None) -> None:
    """Mark a suggested pair as not a duplicate: it is never suggested again (idempotent)."""
    first, second = sorted((str(a), str(b)))
    DuplicateDismissal.objects.get_or_create(
        workspace=workspace, kind=kind, first=first, second=second, defaults={"dismissed_by": actor}
    )
