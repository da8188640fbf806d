"""Activity endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from ninja import Field, Query, Schema, Status

from crm import services
from crm.api.common import (
    ERRORS,
    TAKEN,
    Page,
    Text,
    Title,
    _actor,
    _get,
    _invalid,
    _key,
    _page,
    _ref,
    _short,
    router,
)
from crm.models import Activity, Company, Deal
from vectoros.apischema import Body, Conflict, Moment, PageOut
from vectoros.http import ApiRequest

# --- activities ----------------------------------------------------------------------------------
Kind = Literal["email", "call", "meeting", "note", "task"]


class ActivityOut(Schema):
    id: uuid.UUID = Field(alias="uuid")
    kind: str
    direction: str
    subject: str
    body: str
    occurred_at: datetime
    deal: uuid.UUID | None
    company: uuid.UUID | None
    owner: uuid.UUID | None
    external_id: str

    @staticmethod
    def resolve_deal(obj: Activity) -> uuid.UUID | None:
        return related.uuid if (related := obj.deal) is not None else None

    @staticmethod
    def resolve_company(obj: Activity) -> uuid.UUID | None:
        return related.uuid if (related := obj.company) is not None else None

    @staticmethod
    def resolve_owner(obj: Activity) -> uuid.UUID | None:
        return related.uuid if (related := obj.owner) is not None else None


class ActivityPage(PageOut):
    items: list[ActivityOut]


class ActivityPatch(Body):
    kind: Kind | None = None
    direction: Literal["inbound", "outbound", "internal"] | None = None
    subject: Title | None = None
    body: Text | None = None
    occurred_at: Moment | None = None
    external_id: _short(255) | None = None  # type: ignore[valid-type]


class ActivityIn(ActivityPatch):
    kind: Kind
    subject: Title
    deal: uuid.UUID | None = None
    company: uuid.UUID | None = None


def _activities(request: ApiRequest) -> QuerySet:
    activities = Activity.objects.for_workspace(_key(request).workspace_id).exclude(deal__deleted_at__isnull=False)
    return activities.select_related("deal", "company", "owner")


def _check_activity_external_id(request: ApiRequest, value: str | None, activity: Activity | None) -> None:
    # Every activity of the workspace, those of deleted deals too: the database keeps the id taken for a restore.
    everyone = Activity.objects.for_workspace(_key(request).workspace_id)
    others = everyone.exclude(pk=activity.pk) if activity else everyone
    if value and others.filter(external_id=value).exists():
        raise Conflict(f"external_id: {TAKEN}", loc=["body", "external_id"])


@router.get("/activities/", response={200: ActivityPage, **ERRORS})
def activities_list(
    request: ApiRequest, page: Query[Page], deal: uuid.UUID | None = None, kind: Kind | None = None
) -> Any:
    activities = _activities(request)
    if deal:
        activities = activities.filter(deal__uuid=deal)
    if kind:
        activities = activities.filter(kind=kind)
    return _page(request, activities.order_by("-occurred_at", "id"), page)


@router.get("/activities/{activity_id}/", response={200: ActivityOut, **ERRORS})
def activities_get(request: ApiRequest, activity_id: uuid.UUID) -> Any:
    return _get(_activities(request), request, activity_id, "activity")


@router.post("/activities/", response={201: ActivityOut, **ERRORS})
def activities_create(request: ApiRequest, payload: ActivityIn) -> Any:
    fields = {k: getattr(payload, k) for k in payload.model_fields_set - {"deal", "company", "kind", "subject"}}
    fields = {k: ("" if v is None and k in {"body", "external_id"} else v) for k, v in fields.items() if v is not None}
    _check_activity_external_id(request, fields.get("external_id"), None)
    try:
        activity = services.activity_log(
            workspace=_key(request).workspace,
            actor=_actor(request),
            kind=payload.kind,
            subject=payload.subject,
            deal=_ref(Deal, request, payload.deal, "deal"),
            company=_ref(Company, request, payload.company, "company"),
            **fields,
        )
    except ValidationError as exc:
        raise _invalid(exc) from None
    return Status(201, _activities(request).get(pk=activity.pk))


@router.patch("/activities/{activity_id}/", response={200: ActivityOut, **ERRORS})
def activities_update(request: ApiRequest, activity_id: uuid.UUID, payload: ActivityPatch) -> Any:
    activity = _get(_activities(request), request, activity_id, "activity")
    _check_activity_external_id(request, payload.external_id, activity)
    fields = {}
    for name in payload.model_fields_set:
        value = getattr(payload, name)
        if value is None and name in {"body", "external_id"}:
            value = ""
        if value is not None:
            fields[name] = value
    try:
        services.activity_update(activity=activity, **fields)
    except ValidationError as exc:
        raise _invalid(exc) from None
    return _activities(request).get(pk=activity.pk)


@router.delete("/activities/{activity_id}/", response={204: None, **ERRORS})
def activities_delete(request: ApiRequest, activity_id: uuid.UUID) -> Any:
    services.activity_delete(activity=_get(_activities(request), request, activity_id, "activity"))
    return Status(204, None)
