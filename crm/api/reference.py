"""Read-only endpoints: pipelines, stages, members."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from ninja import Field, Query, Schema

from crm.api.common import (
    ERRORS,
    Error,
    Page,
    _key,
    _page,
    router,
)
from crm.models import Pipeline, Stage
from tenancy.models import Membership
from vectoros.apischema import PageOut
from vectoros.http import ApiRequest


# --- read-only: pipelines, stages, members ---------------------------------------------------------
class StageOut(Schema):
    id: uuid.UUID = Field(alias="uuid")
    name: str
    order: int
    kind: str
    default_probability: Decimal
    pipeline: uuid.UUID

    @staticmethod
    def resolve_pipeline(obj: Stage) -> uuid.UUID:
        return obj.pipeline.uuid


class PipelineOut(Schema):
    id: uuid.UUID = Field(alias="uuid")
    name: str
    is_default: bool
    stages: list[StageOut]

    @staticmethod
    def resolve_stages(obj: Pipeline) -> list[Stage]:
        return list(obj.stages.all())


class MemberOut(Schema):
    id: uuid.UUID = Field(alias="uuid")
    display_name: str
    role: str
    is_active: bool
    team: str | None
    has_login: bool

    @staticmethod
    def resolve_team(obj: Membership) -> str | None:
        return related.name if (related := obj.team) is not None else None

    @staticmethod
    def resolve_has_login(obj: Membership) -> bool:
        return obj.user_id is not None


@router.get("/pipelines/", response={200: list[PipelineOut], 401: Error})
def pipelines_list(request: ApiRequest) -> Any:
    return Pipeline.objects.for_workspace(_key(request).workspace_id).prefetch_related("stages__pipeline")


@router.get("/stages/", response={200: list[StageOut], 401: Error})
def stages_list(request: ApiRequest) -> Any:
    return Stage.objects.for_workspace(_key(request).workspace_id).select_related("pipeline")


class MemberPage(PageOut):
    items: list[MemberOut]


@router.get("/members/", response={200: MemberPage, **ERRORS})
def members_list(request: ApiRequest, page: Query[Page]) -> Any:
    members = Membership.objects.filter(workspace_id=_key(request).workspace_id).select_related("team")
    return _page(request, members.order_by("display_name", "id"), page)
