"""Small CRM situations for the alert tests, written through crm.services so history exists."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from crm.models import Activity, ActivityKind, Direction
from crm.services import deal_create
from tests.factories import default_stage

NOW = datetime(2026, 5, 14, 12, 0, tzinfo=UTC)


def make_deal(ws, owner, *, title="Deal", amount=20_000, created_days_ago=60, close=None, stage="Discovery"):
    at = NOW - timedelta(days=created_days_ago)
    return deal_create(
        workspace=ws,
        actor=owner,
        title=title,
        stage=default_stage(ws, stage),
        amount=Decimal(amount),
        expected_close_date=close or date(2026, 6, 20),
        owner=owner,
        at=at,
        created_at=at,
    )


def log_activity(deal, *, days_ago: float, direction=Direction.OUTBOUND, kind=ActivityKind.CALL):
    return Activity.objects.create(
        workspace_id=deal.workspace_id,
        deal=deal,
        kind=kind,
        direction=direction,
        subject="Touch",
        occurred_at=NOW - timedelta(days=days_ago),
        owner=deal.owner,
    )
