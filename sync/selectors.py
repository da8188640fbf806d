"""Reads of the sync app that feed screens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crm.models import Deal
from sync.models import CrmConnection, PushOutbox, PushStatus, RunStatus, SyncConflict, SyncedDeal, SyncRun
from sync.services import FAILING_AFTER
from tenancy.models import Workspace


@dataclass
class ConnectionStatusRow:
    connection: CrmConnection
    last_run: SyncRun | None
    last_done: SyncRun | None
    records_in: int
    records_out: int
    pending_pushes: int
    failed_pushes: int
    failing: bool
    running: bool


def connections_status(workspace: Workspace) -> list[ConnectionStatusRow]:
    rows = []
    for conn in CrmConnection.objects.for_workspace(workspace).order_by("provider"):
        last_run = conn.runs.order_by("-started_at", "-id").first()
        last_done = conn.runs.filter(status=RunStatus.DONE).order_by("-started_at", "-id").first()
        counts: dict[str, Any] = (last_run.counts if last_run else {}) or {}
        pushes = PushOutbox.objects.filter(connection=conn)
        rows.append(
            ConnectionStatusRow(
                connection=conn,
                last_run=last_run,
                last_done=last_done,
                records_in=sum(counts.get("pulled", {}).values()) if counts else 0,
                records_out=int(counts.get("pushed", {}).get("deals", 0)) if counts else 0,
                pending_pushes=pushes.filter(status=PushStatus.PENDING).count(),
                failed_pushes=pushes.filter(status=PushStatus.FAILED).count(),
                failing=conn.consecutive_failures >= FAILING_AFTER,
                running=last_run is not None and last_run.status == RunStatus.RUNNING,
            )
        )
    return rows


def deal_conflicts(deal: Deal, limit: int = 10) -> list[SyncConflict]:
    return list(SyncConflict.objects.filter(deal=deal).order_by("-detected_at", "-id")[:limit])


def deal_link(deal: Deal) -> SyncedDeal | None:
    return SyncedDeal.objects.filter(deal=deal).select_related("connection").first()
