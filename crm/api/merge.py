"""Merging duplicates through the API: POST /companies/{id}/merge/ {"from": id} (contacts and deals alike) and
POST /merges/{id}/undo/ within 30 days. Same service as the duplicates page (crm.merge)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from ninja import Field, Schema

from crm.api.common import ERRORS, _actor, _key, router
from crm.merge import MODELS, MergeRefused, merge_undo, record_merge
from crm.models import DuplicateKind, MergeRecord
from vectoros.apischema import Body, Conflict, UnknownReference
from vectoros.http import ApiRequest, api_scope


class MergeIn(Body):
    from_: uuid.UUID = Field(alias="from", description="the duplicate: merged into the record in the path, then gone")


class MergeOut(Schema):
    id: uuid.UUID = Field(alias="uuid")
    kind: str
    into: uuid.UUID = Field(alias="target_uuid")
    merged: uuid.UUID = Field(alias="source_uuid")
    moved: dict[str, int]
    merged_at: datetime
    undo_until: datetime
    undone_at: datetime | None

    @staticmethod
    def resolve_moved(obj: MergeRecord) -> dict[str, int]:
        counts: dict[str, int] = {}
        for entry in obj.moved:
            counts[entry["model"]] = counts.get(entry["model"], 0) + len(entry["pks"])
        return counts


def _merge(request: ApiRequest, kind: str, into: uuid.UUID, payload: MergeIn) -> MergeRecord:
    where = {"companies": "company_id", "contacts": "contact_id"}.get(kind, "deal_id")
    scope = api_scope(request)
    queryset: Any = (
        scope.deals()
        if kind == DuplicateKind.DEALS
        else MODELS[kind]._default_manager.filter(workspace_id=_key(request).workspace_id)
    )
    target = queryset.filter(uuid=into).first()
    if target is None:
        raise UnknownReference(["path", where], into)
    source = queryset.filter(uuid=payload.from_).first()
    if source is None:
        raise UnknownReference(["body", "from"], payload.from_)
    try:
        return record_merge(
            workspace=_key(request).workspace, kind=kind, target=target, source=source, actor=_actor(request)
        )
    except MergeRefused as exc:
        raise Conflict(exc.messages[0], loc=["body", "from"]) from None


@router.post("/companies/{company_id}/merge/", response={200: MergeOut, **ERRORS})
def companies_merge(request: ApiRequest, company_id: uuid.UUID, payload: MergeIn) -> Any:
    """Merge the company `from` into this one: its deals, contacts, activities and every link move here, and it is
    deleted. 409 when it cannot be done (the same company, or both are customers). Undo: POST /merges/{id}/undo/."""
    return _merge(request, DuplicateKind.COMPANIES, company_id, payload)


@router.post("/contacts/{contact_id}/merge/", response={200: MergeOut, **ERRORS})
def contacts_merge(request: ApiRequest, contact_id: uuid.UUID, payload: MergeIn) -> Any:
    """Merge the contact `from` into this one (deals, activities, captured mail move here). 409 for the same contact."""
    return _merge(request, DuplicateKind.CONTACTS, contact_id, payload)


@router.post("/deals/{deal_id}/merge/", response={200: MergeOut, **ERRORS})
def deals_merge(request: ApiRequest, deal_id: uuid.UUID, payload: MergeIn) -> Any:
    """Merge the deal `from` into this one: activities and contacts move here; `from` keeps its own history and is
    deleted (restorable by undoing the merge). 409 for the same deal or a deleted one."""
    return _merge(request, DuplicateKind.DEALS, deal_id, payload)


@router.post("/merges/{merge_id}/undo/", response={200: MergeOut, **ERRORS})
def merges_undo(request: ApiRequest, merge_id: uuid.UUID) -> Any:
    """Undo a merge within 30 days: the merged record comes back and every moved row returns to it. 409 after 30
    days, or when it was already undone."""
    record = MergeRecord.objects.for_workspace(_key(request).workspace_id).filter(uuid=merge_id).first()
    if record is None or (
        record.kind == DuplicateKind.DEALS and not api_scope(request).deals().filter(uuid=record.target_uuid).exists()
    ):
        raise UnknownReference(["path", "merge_id"], merge_id)
    try:
        return merge_undo(record=record, actor=_actor(request))
    except MergeRefused as exc:
        raise Conflict(exc.messages[0]) from None
