"""REST endpoints of the weekly call (mounted under /api/v1/forecasts/calls/): the calls of a period and their
accuracy. Read-only: calls are made by people on the call page. An API key sees the whole workspace."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from ninja import Field, Query, Router, Schema

from forecasting import call_accuracy, calls
from vectoros.apischema import Day
from vectoros.http import ApiRequest, api_scope

router = Router(tags=["forecast calls"])


class CallVersion(Schema):
    id: uuid.UUID
    member: uuid.UUID
    member_name: str
    version: int
    commit: float
    best_case: float
    most_likely: float | None
    submitted_by: uuid.UUID | None
    reason: str
    created_at: datetime
    chance_commit: float | None
    chance_best_case: float | None
    model_p50: float | None


class CallsOut(Schema):
    period_start: date
    period_end: date
    status: dict[str, str]
    versions: list[CallVersion]


class PersonAccuracyOut(Schema):
    member: uuid.UUID
    name: str
    periods: int
    mae_pct: float | None
    bias_pct: float | None
    commit_met_share: float | None
    rows: list[dict[str, Any]]


class SignalOut(Schema):
    weight: float | None
    mae_model: float | None
    mae_blend: float | None
    observations: int
    periods: int
    has_signal: bool
    statement: str


class AccuracyOut(Schema):
    people: list[PersonAccuracyOut]
    signal: SignalOut


class CallsQuery(Schema):
    on: Day | None = Field(None, description="a day of the period; today when left out")


@router.get("/", response=CallsOut)
def calls_list(request: ApiRequest, query: Query[CallsQuery]) -> dict[str, Any]:
    """Every version of every call in the period containing `on` (today by default), with each call's chance."""
    scope = api_scope(request)
    start, end = calls.current_period(scope.workspace, query.on)
    overview = calls.calls_overview(scope, start, end)
    versions = [
        {
            "id": v.uuid,
            "member": c.member.uuid,
            "member_name": c.member.display_name,
            "version": v.version,
            "commit": float(v.commit),
            "best_case": float(v.best_case),
            "most_likely": float(v.most_likely) if v.most_likely is not None else None,
            "submitted_by": v.submitted_by.uuid if v.submitted_by else None,
            "reason": v.reason,
            "created_at": v.created_at,
            "chance_commit": c.chance(v.commit),
            "chance_best_case": c.chance(v.best_case),
            "model_p50": c.model_p50,
        }
        for c in overview["calls"]
        for v in c.versions
    ]
    status = {s["member"].uuid.hex: s["status"] for s in overview["status"]}
    return {"period_start": start, "period_end": end, "status": status, "versions": versions}


@router.get("/accuracy", response=AccuracyOut)
def calls_accuracy(request: ApiRequest) -> dict[str, Any]:
    """Each person's final calls of finished periods against what closed won, and the call-signal test."""
    report = call_accuracy.accuracy_report(api_scope(request))
    people = [
        {
            "member": p.member.uuid,
            "name": p.member.display_name,
            "periods": p.periods,
            "mae_pct": p.mae_pct,
            "bias_pct": p.bias_pct,
            "commit_met_share": p.commit_met_share,
            "rows": [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()} for row in p.rows],
        }
        for p in report["people"]
    ]
    return {"people": people, "signal": vars(report["signal"])}
