"""Zapier-style hooks (mounted by vectoros.api at /api/v1/sync/): REST-hook subscriptions delivered on the alerts
app's signed-webhook outbox, a sample payload per event, and polling triggers with a `since` cursor."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status
from ninja.errors import HttpError

from alerts.models import Alert
from crm.models import Deal
from forecasting.models import ForecastRun
from sync.models import HookEvent
from sync.services import hook_subscribe, hook_unsubscribe
from vectoros.apischema import Body, Moment
from vectoros.http import ApiRequest

router = Router(tags=["hooks"])
LIMIT = 100

Event = Literal["deal.updated", "alert.raised", "forecast.completed"]  # HookEvent.values (a test keeps them equal)
# An http(s) URL Django's URLValidator takes (a host name with a top-level domain, an optional port and path); the
# endpoint stores at most 500 characters.
TARGET_URL = (
    r"^https?://([a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?\.){1,4}[a-z]{2,20}(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~-]{0,40}){0,8}$"
)


class SubscribeIn(Body):
    target_url: Annotated[str, Field(max_length=500, pattern=TARGET_URL, examples=["https://hooks.zapier.com/abc"])]
    event: Event


class SubscriptionOut(Schema):
    id: UUID
    event: str
    target_url: str
    secret: str  # the Standard Webhooks signing secret of this subscription's deliveries


@router.post("/hooks/", response={201: SubscriptionOut})
def subscribe(request: ApiRequest, payload: SubscribeIn) -> Status:
    """Subscribe `target_url` to `event` (deal.updated, alert.raised, forecast.completed)."""
    try:
        hook = hook_subscribe(workspace=request.auth.workspace, target_url=payload.target_url, event=payload.event)
    except ValueError as exc:  # the schema states the same rules; this keeps the service's word final
        raise HttpError(422, str(exc)) from exc
    out = {"id": hook.uuid, "event": hook.event, "target_url": hook.endpoint.url, "secret": hook.endpoint.secret}
    return Status(201, out)


@router.delete("/hooks/{hook_id}", response={204: None})
def unsubscribe(request: ApiRequest, hook_id: UUID) -> Status:
    """Idempotent: a hook already gone (or never made) answers 204 too."""
    hook_unsubscribe(workspace=request.auth.workspace, hook_id=hook_id)
    return Status(204, None)


SAMPLES: dict[str, dict[str, Any]] = {
    HookEvent.DEAL_UPDATED: {
        "type": "deal.updated",
        "timestamp": "2026-01-05T10:00:00+00:00",
        "data": {"id": "3f2b6c1e-0000-4000-8000-000000000001", "title": "Acme renewal", "stage": "Proposal",
                 "amount": "25000.00", "expected_close_date": "2026-02-27", "outcome": "open"},
    },
    HookEvent.ALERT_RAISED: {
        "type": "alert.raised",
        "timestamp": "2026-01-05T10:00:00+00:00",
        "data": {"id": "3f2b6c1e-0000-4000-8000-000000000002", "kind": "stale", "priority": "high", "status": "open",
                 "why": "No activity for 21 days", "deal": {"id": "3f2b6c1e-0000-4000-8000-000000000001",
                 "title": "Acme renewal"}},
    },
    HookEvent.FORECAST_COMPLETED: {
        "type": "forecast.completed",
        "timestamp": "2026-01-05T10:00:00+00:00",
        "data": {"id": "3f2b6c1e-0000-4000-8000-000000000003", "period_start": "2026-01-01", "period_end": "2026-03-31",
                 "p10": 410000.0, "p50": 520000.0, "p90": 640000.0},
    },
}  # fmt: skip


@router.get("/hooks/samples/{event}", response=dict[str, Any])
def sample(request: ApiRequest, event: Event) -> dict[str, Any]:
    """What a delivery of `event` looks like (Zapier shows it while a Zap is set up)."""
    return SAMPLES[event]


class Since(Schema):
    since: Moment | None = Field(None, description="changes after this moment; the last day when left out")


class DealChange(Schema):
    id: str = Field(description="`<deal id>:<updated_at>`: one per change, for de-duplication")
    deal_id: UUID
    title: str
    stage: str
    amount: str
    outcome: str
    updated_at: str


class AlertTrigger(Schema):
    id: UUID
    kind: str
    status: str
    why: str
    first_seen_at: str


class ForecastTrigger(Schema):
    id: UUID
    period_start: str
    period_end: str
    mean: float | None
    percentiles: dict[str, Any] | None
    created_at: str


def _since(value: Since) -> datetime:
    return value.since or timezone.now() - timedelta(days=1)


@router.get("/triggers/deals", response=list[DealChange])
def poll_deals(request: ApiRequest, since: Query[Since]) -> list[dict[str, Any]]:
    """Deals changed after `since` (default: the last day), newest first; `id` is stable for de-duplication."""
    deals = (
        Deal.objects.for_workspace(request.auth.workspace)
        .filter(updated_at__gt=_since(since))
        .select_related("stage")
        .order_by("-updated_at")[:LIMIT]
    )
    return [
        {"id": f"{d.uuid}:{d.updated_at.isoformat()}", "deal_id": str(d.uuid), "title": d.title, "stage": d.stage.name,
         "amount": str(d.amount), "outcome": d.outcome, "updated_at": d.updated_at.isoformat()}
        for d in deals
    ]  # fmt: skip


@router.get("/triggers/alerts", response=list[AlertTrigger])
def poll_alerts(request: ApiRequest, since: Query[Since]) -> list[dict[str, Any]]:
    alerts = Alert.objects.filter(workspace=request.auth.workspace, first_seen_at__gt=_since(since)).order_by(
        "-first_seen_at"
    )[:LIMIT]
    return [
        {
            "id": str(a.uuid),
            "kind": a.kind,
            "status": a.status,
            "why": a.why,
            "first_seen_at": a.first_seen_at.isoformat(),
        }
        for a in alerts
    ]


@router.get("/triggers/forecasts", response=list[ForecastTrigger])
def poll_forecasts(request: ApiRequest, since: Query[Since]) -> list[dict[str, Any]]:
    runs = ForecastRun.objects.filter(workspace=request.auth.workspace, created_at__gt=_since(since)).order_by(
        "-created_at"
    )[:LIMIT]
    return [
        {"id": str(r.uuid), "period_start": r.period_start.isoformat(), "period_end": r.period_end.isoformat(),
         "mean": r.mean, "percentiles": r.percentiles, "created_at": r.created_at.isoformat()}
        for r in runs
    ]  # fmt: skip
