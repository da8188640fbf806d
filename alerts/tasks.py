"""django-q2 tasks: thin wrappers that take ids, reload, and call a service."""

from __future__ import annotations

import logging

from django.utils import timezone

from alerts.calibration import calibration_compute
from alerts.delivery import email, outbox
from alerts.services import alerts_resolve_for_deleted_deals, monitors_run
from tenancy.models import Workspace

logger = logging.getLogger(__name__)
DEAL_EVENTS_SENT_INLINE = 50


def run_monitors_all() -> dict[str, int]:
    """Every 30 minutes: one monitor pass per workspace, then send what it queued."""
    checked = 0
    for workspace_id in Workspace.objects.values_list("id", flat=True):
        run_monitors_for(workspace_id)
        checked += 1
    outbox.deliver_due()
    return {"workspaces": checked}


def run_monitors_for(workspace_id: int) -> dict:
    workspace = Workspace.objects.get(id=workspace_id)
    return monitors_run(workspace=workspace)


def send_digests(frequency: str) -> dict[str, int]:
    queued = email.digests_enqueue(frequency=frequency, now=timezone.now())
    return {"queued": queued, **outbox.deliver_due()}


def on_deals_changed(workspace_id: int, deal_ids: list[int]) -> None:
    """DEAL_CHANGE_HANDLERS entry: resolve deleted deals' alerts, webhook "deal.updated" events, then send them.

    Only these changes' events are sent here (at most DEAL_EVENTS_SENT_INLINE): this runs on the interactive
    queue, and a backlog (an import's thousands of events, retries, digests) is the bulk sender's
    (`deliver_pending`, woken by `outbox.enqueue`), so a re-forecast is never queued behind it."""
    alerts_resolve_for_deleted_deals(workspace_id=workspace_id, deal_ids=deal_ids)
    events = outbox.deal_events(workspace_id=workspace_id, deal_ids=deal_ids)
    if outbox.enqueue(events):
        outbox.deliver_due(keys=[e.idempotency_key for e in events], limit=DEAL_EVENTS_SENT_INLINE)


def send_daily_digests() -> dict[str, int]:
    return send_digests("daily")


def send_weekly_digests() -> dict[str, int]:
    return send_digests("weekly")


def deliver_pending() -> dict[str, int]:
    """Send due deliveries, including webhook retries whose backoff has run out."""
    return outbox.deliver_due()


def calibrate_all() -> dict[str, int]:
    """Monthly: re-judge every workspace's deal rules on its own history (see `alerts.calibration`)."""
    done = 0
    for workspace_id in Workspace.objects.values_list("id", flat=True):
        try:
            calibrate_for(workspace_id)
            done += 1
        except Exception:  # one workspace's failure must not stop the others
            logger.exception("alert calibration failed for workspace %s", workspace_id)
    return {"workspaces": done}


def calibrate_for(workspace_id: int) -> None:
    workspace = Workspace.objects.filter(id=workspace_id).first()
    if workspace is not None:
        calibration_compute(workspace=workspace)
