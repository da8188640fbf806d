"""REST endpoints of the alerts app (mounted by vectoros.api at /api/v1/alerts/). Workspace-wide API keys."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Query, Router, Schema

from alerts.models import ACTIVE_STATUSES, Alert, AlertKind, Priority
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
    status: str = "active"
    kind: str | None = None
    min_priority: int | None = None
    limit: int = 100


def _workspace_id(request: ApiRequest) -> int:
    return request.auth.workspace_id


@router.get("/", response={200: list[AlertOut], 422: dict})
def list_alerts(request: ApiRequest, filters: Query[AlertFilters]):
    qs = Alert.objects.for_workspace(_workspace_id(request)).exclude(deal__deleted_at__isnull=False)
    qs = qs.select_related("deal")
    if filters.status == "active":
        qs = qs.filter(status__in=ACTIVE_STATUSES)
    elif filters.status in {"open", "acknowledged", "snoozed", "dismissed", "resolved"}:
        qs = qs.filter(status=filters.status)
    elif filters.status != "all":
        return 422, {"detail": "status must be active, all, open, acknowledged, snoozed, dismissed or resolved"}
    if filters.kind:
        if filters.kind not in AlertKind.values:
            return 422, {"detail": f"unknown kind; one of {', '.join(AlertKind.values)}"}
        qs = qs.filter(kind=filters.kind)
    if filters.min_priority is not None:
        qs = qs.filter(priority__gte=filters.min_priority)
    limit = min(max(filters.limit, 1), 500)
    return 200, [AlertOut.from_alert(a) for a in qs.order_by("-priority", "-score")[:limit]]


@router.get("/{alert_id}", response=AlertOut)
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
