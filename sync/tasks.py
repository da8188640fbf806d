"""Worker entry points of the sync app: they take ids, reload, and call the engine or a service."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.utils import timezone
from django_q.tasks import async_task

from sync.engine import Busy, run_sync
from sync.models import ConnectionStatus, CrmConnection, PushOutbox, PushStatus
from sync.services import hooks_forecasts_enqueue, push_pending, pushes_queue
from tenancy.jobs import queue_for

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


def sync_due() -> int:  # the number of runs queued
    """Every minute: run each working connection whose interval has passed since its last run started; retry
    pushes whose backoff is over; queue "forecast.completed" hook deliveries."""
    hooks_forecasts_enqueue()
    now = timezone.now()
    ran = 0
    for conn in CrmConnection.objects.filter(status=ConnectionStatus.OK).select_related("workspace"):
        last = conn.runs.order_by("-started_at").values_list("started_at", flat=True).first()
        queued = conn.state.get("queued_at")
        due = last is None or last + timedelta(minutes=conn.interval_minutes) <= now
        # One queued run per interval at most, however long the bulk queue is.
        if due and (queued is None or datetime.fromisoformat(queued) + timedelta(minutes=conn.interval_minutes) <= now):
            CrmConnection.objects.filter(pk=conn.pk).update(state={**conn.state, "queued_at": now.isoformat()})
            async_task(
                "sync.tasks.sync_connection",
                conn.pk,
                task_name=f"sync:{conn.pk}",
                cluster=queue_for("sync.tasks.sync_connection"),
            )
            ran += 1
        elif PushOutbox.objects.filter(connection=conn, status=PushStatus.PENDING, next_attempt_at__lte=now).exists():
            push_pending(connection=conn)
    return ran


__all__ = ["on_deals_changed", "sync_connection", "sync_due"]
