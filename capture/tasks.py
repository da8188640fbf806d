"""Worker entry points (bulk queue, see settings.BULK_TASKS): thin, they take ids and call the service."""

from __future__ import annotations

import logging

from django.db.models import Q
from django_q.tasks import async_task

from capture.models import CalendarConnection, ConnectionStatus, MailboxConnection
from capture.services import capture_run
from tenancy.jobs import queue_for
from tenancy.models import Workspace

logger = logging.getLogger(__name__)


def capture_all() -> int:
    """Queue one capture pass per workspace that has a live connection (every few minutes)."""
    live = ~Q(status=ConnectionStatus.DISCONNECTED)
    ids = set(MailboxConnection.objects.filter(live).values_list("workspace_id", flat=True))
    ids |= set(CalendarConnection.objects.filter(live).values_list("workspace_id", flat=True))
    func = "capture.tasks.capture_workspace"
    for workspace_id in sorted(ids):
        async_task(func, workspace_id, task_name=f"capture:{workspace_id}", cluster=queue_for(func))
    return len(ids)


def capture_workspace(workspace_id: int) -> dict[str, object] | None:
    workspace = Workspace.objects.filter(pk=workspace_id).first()
    if workspace is None:
        return None
    result = capture_run(workspace=workspace)
    logger.info("capture %s: %s", workspace.slug, result)
    return result
