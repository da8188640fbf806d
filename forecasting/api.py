"""REST endpoints of the forecasting app (mounted by vectoros.api at /api/v1/forecasts/).

Everything happens inside the API key's workspace: another workspace's id is a 404, the same as an
id that does not exist. What-if reads only: nothing stored changes.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from ninja import Field, Query, Router, Schema, Status
from ninja.errors import HttpError
from ninja.errors import ValidationError as Unprocessable
from pydantic import ConfigDict, model_validator

from forecasting import selectors
from forecasting.models import ForecastRun, Target
from forecasting.services import target_delete, target_set
from tenancy.models import ApiKey
from vectoros.apischema import Body, Conflict, Day, Problem, UnknownReference, decimal_amount
from vectoros.http import ApiRequest, api_scope

router = Router(tags=["forecasting"])
router.add_router("/calls/", "forecasting.api_calls.router")

Amount = decimal_amount(digits=16)


ERRORS: dict[int, type[Schema]] = {401: Problem, 404: Problem, 409: Problem, 422: Problem}


def _key(request: ApiRequest) -> ApiKey:
    return request.auth


def _unprocessable(field: str, message: str) -> Unprocessable:
    return Unprocessable([{"loc": ["body", field], "msg": message, "type": "value_error"}])


class RunSummary(Schema):
    id: uuid.UUID
    created_at: Any
    as_of: Any
    period_start: date
    period_end: date
    trigger: str
    sims: int
    realised: float
    mean: float
    percentiles: dict[str, float]
    quarters: list[dict[str, Any]]
    inputs: dict[str, Any]

    @staticmethod
    def resolve_id(obj: ForecastRun | dict[str, Any]) -> uuid.UUID:
        # The detail view answers with a dict that already carries the id.
        return obj["id"] if isinstance(obj, dict) else obj.uuid


class DealPart(Schema):
    deal: uuid.UUID
    probability: float
    expected: float
    confidence: str


class RunDetail(RunSummary):
    histogram: dict[str, Any]
    rollups: dict[str, Any]
    deals: list[DealPart]


def _run(request: ApiRequest, run_id: uuid.UUID) -> ForecastRun:
    run = ForecastRun.objects.for_workspace(_key(request).workspace_id).filter(uuid=run_id).first()
    if run is None:
        raise HttpError(404, "No such forecast run")
    return run


def _detail(run: ForecastRun) -> dict[str, Any]:
    parts = run.deal_forecasts.values_list("deal__uuid", "probability", "expected", "confidence")
    return {
        **RunSummary.from_orm(run).model_dump(),
        "histogram": run.histogram,
        "rollups": run.rollups,
        "deals": [{"deal": u, "probability": p, "expected": e, "confidence": c} for u, p, e, c in parts],
    }


@router.get("/latest/", response={200: RunDetail, **ERRORS})
def latest_run(request: ApiRequest) -> Any:
    """The newest stored forecast of the workspace, with per-deal parts and roll-ups."""
    run = ForecastRun.objects.for_workspace(_key(request).workspace_id).first()
    if run is None:
        raise HttpError(404, "No forecast has been run yet")
    return _detail(run)


class RunsQuery(Schema):
    limit: int = Field(20, ge=1, le=200, description="the newest runs first (a bounded list, not pages)")


@router.get("/runs/", response={200: list[RunSummary], **ERRORS})
def list_runs(request: ApiRequest, query: Query[RunsQuery]) -> Any:
    return list(ForecastRun.objects.for_workspace(_key(request).workspace_id)[: query.limit])


@router.get("/runs/{run_id}/", response={200: RunDetail, **ERRORS})
def run_detail(request: ApiRequest, run_id: uuid.UUID) -> Any:
    return _detail(_run(request, run_id))


class TargetOut(Schema):
    id: uuid.UUID
    period_start: date
    period_end: date
    amount: Decimal
    team: uuid.UUID | None = None
    rep: uuid.UUID | None = None

    @staticmethod
    def resolve_id(obj: Target) -> uuid.UUID:
        return obj.uuid

    @staticmethod
    def resolve_team(obj: Target) -> uuid.UUID | None:
        return obj.team.uuid if obj.team else None

    @staticmethod
    def resolve_rep(obj: Target) -> uuid.UUID | None:
        return obj.owner.uuid if obj.owner else None


def _team_or_rep(schema: dict[str, Any]) -> None:
    # Never both a team and a rep (either may be absent or null).
    both = {"team": {"type": "string"}, "rep": {"type": "string"}}
    schema["not"] = {"properties": both, "required": ["team", "rep"]}


class TargetIn(Body):
    """A target for the workspace, one team or one rep (never both).

    Business rule: a period that ends before it starts is refused with 422.
    """

    model_config = ConfigDict(json_schema_extra=_team_or_rep)

    period_start: Day
    period_end: Day
    amount: Amount  # type: ignore[valid-type]  # built by decimal_amount
    team: uuid.UUID | None = None
    rep: uuid.UUID | None = None

    @model_validator(mode="after")
    def _one_scope(self) -> TargetIn:
        if self.team is not None and self.rep is not None:
            raise ValueError("a target is for the workspace, one team or one rep, not both")
        if self.period_end < self.period_start:
            raise ValueError("the period ends before it starts")
        return self


def _targets(request: ApiRequest):  # a queryset of this workspace's targets
    return Target.objects.for_workspace(_key(request).workspace_id).select_related("team", "owner")


def _target(request: ApiRequest, target_id: uuid.UUID) -> Target:
    found = _targets(request).filter(uuid=target_id).first()
    if found is None:
        raise HttpError(404, "No such target")
    return found


def _save_target(request: ApiRequest, payload: TargetIn) -> Target:
    scope = api_scope(request)
    team = owner = None
    if payload.team is not None:
        team = scope.teams().filter(uuid=payload.team).first()
        if team is None:
            raise UnknownReference(["body", "team"], payload.team)
    if payload.rep is not None:
        owner = scope.reps().filter(uuid=payload.rep).first()
        if owner is None:
            raise UnknownReference(["body", "rep"], payload.rep)
    try:
        return target_set(
            scope=api_scope(request),
            period_start=payload.period_start,
            period_end=payload.period_end,
            amount=payload.amount,
            team=team,
            owner=owner,
        )
    except ValidationError as exc:
        raise _unprocessable("__all__", " ".join(exc.messages)) from None


@router.get("/targets/", response={200: list[TargetOut], **ERRORS})
def list_targets(request: ApiRequest) -> Any:
    return list(_targets(request))


@router.post("/targets/", response={201: TargetOut, **ERRORS})
def create_target(request: ApiRequest, payload: TargetIn) -> Any:
    """Create (or replace) the target for that scope and period.

    Business rule: a period that ends before it starts is refused with 422.
    """
    return Status(201, _save_target(request, payload))


@router.get("/targets/{target_id}/", response={200: TargetOut, **ERRORS})
def get_target(request: ApiRequest, target_id: uuid.UUID) -> Any:
    return _target(request, target_id)


@router.put("/targets/{target_id}/", response={200: TargetOut, **ERRORS})
def update_target(request: ApiRequest, target_id: uuid.UUID, payload: TargetIn) -> Any:
    """Change a target's amount; its scope and period stay (another scope or period is a 409).

    Business rule: a period that ends before it starts is refused with 422.
    """
    target = _target(request, target_id)
    same_scope = (
        (target.team.uuid if target.team else None) == payload.team
        and (target.owner.uuid if target.owner else None) == payload.rep
        and (target.period_start, target.period_end) == (payload.period_start, payload.period_end)
    )
    if not same_scope:
        raise Conflict("scope and period of a target cannot change; create a new one", loc=["body"])
    return _save_target(request, payload)


@router.delete("/targets/{target_id}/", response={204: None, **ERRORS})
def delete_target(request: ApiRequest, target_id: uuid.UUID) -> Any:
    target_delete(target=_target(request, target_id))
    return Status(204, None)


class WhatIfIn(Body):
    exclude: list[uuid.UUID] = Field(default_factory=list, max_length=5000)
    slip: list[uuid.UUID] = Field(default_factory=list, max_length=5000)
    slip_days: int = Field(30, ge=0, le=365)
    win_rate_scale: float = Field(1.0, ge=0.1, le=3.0)
    add_reps: int = Field(0, ge=0, le=100)
    ramp_days: int = Field(90, ge=1, le=365)


class WhatIfOut(Schema):
    run: uuid.UUID
    base: dict[str, float]
    scenario: dict[str, float]


@router.post("/what-if/", response={200: WhatIfOut, **ERRORS})
def what_if(request: ApiRequest, payload: WhatIfIn) -> Any:
    """The latest run's period under a scenario, beside the stored base. Nothing is stored."""
    key = _key(request)
    run = ForecastRun.objects.for_workspace(key.workspace_id).first()
    if run is None:
        raise HttpError(404, "No forecast has been run yet")
    try:
        scenario = selectors.what_if_build(deals=api_scope(request).deals(), **payload.model_dump())
    except ValidationError as exc:  # an id that names no open deal the key can see
        field, messages = next(iter(exc.message_dict.items()))
        raise UnknownReference(["body", field], None, message=" ".join(messages)) from None
    result = selectors.what_if_forecast(key.workspace, run, scenario)
    return {"run": run.uuid, "base": run.percentiles, "scenario": result}
