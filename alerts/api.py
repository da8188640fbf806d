"""REST endpoints of the alerts app (mounted by vectoros.api at /api/v1/alerts/). Workspace-wide API keys."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Field, Query, Router, Schema

from alerts.models import ACTIVE_STATUSES, Alert, AlertKind, Priority
from vectoros.apischema import Problem
from vectoros.http import ApiRequest

router = Router(tags=["alerts"])


class AlertOut(Schema):
    id: UUID
    kind: str
    priority: str
    status: str
    seen: str
    why: str
    next_step: str
    revenue_at_risk: float
    deal_id: UUID | None
    deal_title: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    snoozed_until: date | None

    @staticmethod
    def from_alert(alert: Alert) -> AlertOut:
        return AlertOut(
            id=alert.uuid,
            kind=alert.kind,
            priority=Priority(alert.priority).label.lower(),
            status=alert.status,
            seen=alert.seen,
            why=alert.why,
            next_step=alert.next_step,
            revenue_at_risk=float(alert.revenue_at_risk),
            deal_id=alert.deal.uuid if alert.deal else None,
            deal_title=alert.deal.title if alert.deal else None,
            first_seen_at=alert.first_seen_at,
            last_seen_at=alert.last_seen_at,
            resolved_at=alert.resolved_at,
            snoozed_until=alert.snoozed_until,
        )


class AlertFilters(Schema):
    status: Literal["active", "all", "open", "acknowledged", "snoozed", "dismissed", "resolved"] = "active"
    kind: Literal[tuple(AlertKind.values)] | None = None  # type: ignore[valid-type]  # the model's own kinds
    min_priority: int | None = Field(None, ge=1, le=4, description="1 low, 2 medium, 3 high, 4 critical")
    limit: int = Field(100, ge=1, le=500)


def _workspace_id(request: ApiRequest) -> int:
    return request.auth.workspace_id


@router.get("/", response=list[AlertOut])
def list_alerts(request: ApiRequest, filters: Query[AlertFilters]) -> list[AlertOut]:
    """The most pressing alerts first (a bounded list: `limit`, not pages)."""
    qs = Alert.objects.for_workspace(_workspace_id(request)).exclude(deal__deleted_at__isnull=False)
    qs = qs.select_related("deal")
    if filters.status == "active":
        qs = qs.filter(status__in=ACTIVE_STATUSES)
    elif filters.status != "all":
        qs = qs.filter(status=filters.status)
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.min_priority is not None:
        qs = qs.filter(priority__gte=filters.min_priority)
    return [AlertOut.from_alert(a) for a in qs.order_by("-priority", "-score")[: filters.limit]]


@router.get("/{alert_id}", response={200: AlertOut, 404: Problem})
def get_alert(request: ApiRequest, alert_id: UUID):
    alerts = Alert.objects.exclude(deal__deleted_at__isnull=False).select_related("deal")
    alert = get_object_or_404(alerts, uuid=alert_id, workspace_id=_workspace_id(request))
    return AlertOut.from_alert(alert)


class CountsOut(Schema):
    open: int
    as_of: datetime


@router.get("/summary/counts", response=CountsOut)
def counts(request: ApiRequest):
    today = timezone.localdate()
    n = Alert.objects.for_workspace(_workspace_id(request)).needing_attention(today).count()
    return CountsOut(open=n, as_of=timezone.now())
