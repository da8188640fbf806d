"""Worker entry points of the sync app: they take ids, reload, and call the engine or a service."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.utils import timezone

from sync.engine import Busy, run_sync
from sync.models import ConnectionStatus, CrmConnection, PushOutbox, PushStatus
from sync.services import hooks_forecasts_enqueue, push_pending, pushes_queue

logger = logging.getLogger(__name__)


def on_deals_changed(workspace_id: int, deal_ids: list[int]) -> None:
    """A DEAL_CHANGE_HANDLERS entry: VectorOS edits of synced deals go into the push outbox and out at once."""
    if not pushes_queue(workspace_id=workspace_id, deal_ids=deal_ids):
        return
    for conn in CrmConnection.objects.filter(workspace_id=workspace_id, status=ConnectionStatus.OK):
        push_pending(connection=conn)


def sync_connection(connection_id: int, full: bool = False) -> None:
    conn = CrmConnection.objects.select_related("workspace").filter(pk=connection_id).first()
    if conn is None or conn.status != ConnectionStatus.OK:
        return
    try:
        run_sync(connection=conn, full=full)
    except Busy:
        logger.info("sync of connection %s skipped: another run holds it", connection_id)


def sync_due() -> int:
    """Every minute: run each working connection whose interval has passed since its last run started; retry
    pushes whose backoff is over; queue "forecast.completed" hook deliveries."""
    hooks_forecasts_enqueue()
    now = timezone.now()
    ran = 0
    for conn in CrmConnection.objects.filter(status=ConnectionStatus.OK).select_related("workspace"):
        last = conn.runs.order_by("-started_at").values_list("started_at", flat=True).first()
        if last is None or last + timedelta(minutes=conn.interval_minutes) <= now:
            sync_connection(conn.pk)
            ran += 1
        elif PushOutbox.objects.filter(connection=conn, status=PushStatus.PENDING, next_attempt_at__lte=now).exists():
            push_pending(connection=conn)
    return ran


__all__ = ["on_deals_changed", "sync_connection", "sync_due"]
