"""The delivery outbox: every message (email digest, Slack post, webhook call) is a Delivery row.

Exactly once, the way healthchecks' `sendalerts` does it:
- creating a delivery is idempotent (`idempotency_key` is unique; a second insert does nothing);
- a worker claims a row with a conditional UPDATE (pending → sending) committed before it sends, so
  two workers never both send it;
- after sending, the row becomes "sent" (only if still "sending" under this claim).
A worker killed between claiming and recording leaves the row "sending". When its lease runs out,
a webhook goes back to "pending" and is sent again with the same `webhook-id` (Standard Webhooks
receivers drop ids they have seen); an email or Slack post, which no receiver can de-duplicate, is
marked "unknown" and never sent again: at most once rather than a possible duplicate.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.utils import timezone
from django.utils.module_loading import import_string
from django_q.tasks import async_task

from alerts.delivery import email, slack, webhooks
from alerts.delivery.errors import DeliveryError
from alerts.links import deal_url
from alerts.models import Alert, AlertSettings, Channel, Delivery, DeliveryStatus, Priority, WebhookEndpoint
from crm.models import Deal
from tenancy.jobs import queue_for
from tenancy.models import Workspace

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
LEASE = timedelta(minutes=10)
# Once a message is out, its outcome is written even if the database is away for a moment (a restart takes a
# few seconds): a row left "sending" is retried after the lease (a webhook: sent twice with the same id) or
# never re-sent (an email: marked unknown).
RECORD_RETRY_SECONDS = (0.5, 1, 2, 4, 8)


def backoff(attempts: int) -> timedelta:
    """30 s, 2 min, 8 min, 32 min, ~2 h after the 1st..5th failed attempt."""
    return timedelta(seconds=30 * 4 ** max(attempts - 1, 0))


def alert_payload(alert: Alert, event_type: str) -> dict[str, Any]:
    deal = alert.deal
    return {
        "type": event_type,
        "timestamp": timezone.now().isoformat(),
        "data": {
            "id": str(alert.uuid),
            "kind": alert.kind,
            "priority": Priority(alert.priority).label.lower(),
            "status": alert.status,
            "seen": alert.seen,
            "why": alert.why,
            "next_step": alert.next_step,
            "revenue_at_risk": str(alert.revenue_at_risk),
            "deal": None
            if deal is None
            else {"id": str(deal.uuid), "title": deal.title, "url": deal_url(alert.workspace.slug, deal.uuid)},
        },
    }


def enqueue(rows: list[Delivery]) -> int:
    """Insert deliveries, skipping any whose idempotency key exists; wake the sender after commit."""
    if not rows:
        return 0
    keys = [r.idempotency_key for r in rows]
    before = set(Delivery.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", flat=True))
    Delivery.objects.bulk_create(rows, ignore_conflicts=True)
    transaction.on_commit(_wake_sender)
    return len(set(keys) - before)


def _wake_sender() -> None:
    async_task(
        "alerts.tasks.deliver_pending", task_name="alerts.deliver", cluster=queue_for("alerts.tasks.deliver_pending")
    )


def alerts_changed(
    *,
    workspace: Workspace,
    settings_row: AlertSettings,
    created: list[int],
    resolved: list[int],
    escalated: list[int],
    **_: Any,
) -> None:
    """Queue the webhook events and Slack posts that a monitor pass calls for; tell ALERTS_CHANGED_HOOKS."""
    for hook in getattr(settings, "ALERTS_CHANGED_HOOKS", []):  # higher apps (collab's notifications)
        import_string(hook)(workspace=workspace, created=created, resolved=resolved, escalated=escalated)
    endpoints = list(WebhookEndpoint.objects.filter(workspace=workspace, is_active=True, send_alert_events=True))
    slack = settings_row.slack_enabled and bool(settings_row.slack_webhook_url)
    if not endpoints and not slack:
        return
    events = [("alert.created", created), ("alert.resolved", resolved), ("alert.escalated", escalated)]
    wanted = {i for _, ids in events for i in ids}
    alerts = {a.id: a for a in Alert.objects.filter(id__in=wanted).select_related("deal", "workspace")}
    rows: list[Delivery] = []
    for event_type, ids in events:
        for alert_id in ids:
            alert = alerts[alert_id]
            payload = alert_payload(alert, event_type)
            suffix = f":{alert.priority}" if event_type == "alert.escalated" else ""
            for endpoint in endpoints:
                rows.append(
                    Delivery(
                        workspace=workspace,
                        channel=Channel.WEBHOOK,
                        endpoint=endpoint,
                        alert=alert,
                        event_type=event_type,
                        idempotency_key=f"webhook:{endpoint.uuid}:{event_type}:{alert.uuid}{suffix}",
                        payload=payload,
                    )
                )
            if slack and event_type != "alert.resolved" and alert.priority == Priority.CRITICAL:
                rows.append(
                    Delivery(
                        workspace=workspace,
                        channel=Channel.SLACK,
                        alert=alert,
                        event_type="alert.critical",
                        idempotency_key=f"slack:{alert.uuid}:critical",
                        payload=payload,
                    )
                )
    enqueue(rows)


def deal_events_enqueue(*, workspace_id: int, deal_ids: list[int]) -> int:
    """A "deal.updated" webhook event per changed deal for endpoints that asked for deal events.

    The key includes the deal's `updated_at`, so a re-run for the same change queues nothing.
    """
    return enqueue(deal_events(workspace_id=workspace_id, deal_ids=deal_ids))


def deal_events(*, workspace_id: int, deal_ids: list[int]) -> list[Delivery]:
    """The unsaved "deal.updated" deliveries of `deal_events_enqueue`."""
    endpoints = list(WebhookEndpoint.objects.filter(workspace_id=workspace_id, is_active=True, send_deal_events=True))
    if not endpoints or not deal_ids:
        return []
    rows = []
    deals = Deal.objects.for_workspace(workspace_id).filter(id__in=deal_ids).select_related("stage", "workspace")
    for deal in deals:
        payload = {
            "type": "deal.updated",
            "timestamp": timezone.now().isoformat(),
            "data": {
                "id": str(deal.uuid),
                "title": deal.title,
                "stage": deal.stage.name,
                "amount": str(deal.amount),
                "currency": deal.currency,
                "expected_close_date": deal.expected_close_date.isoformat() if deal.expected_close_date else None,
                "outcome": deal.outcome,
                "url": deal_url(deal.workspace.slug, deal.uuid),
            },
        }
        version = f"{deal.updated_at.timestamp():.6f}"
        for endpoint in endpoints:
            rows.append(
                Delivery(
                    workspace_id=workspace_id,
                    channel=Channel.WEBHOOK,
                    endpoint=endpoint,
                    event_type="deal.updated",
                    idempotency_key=f"webhook:{endpoint.uuid}:deal.updated:{deal.uuid}:{version}",
                    payload=payload,
                )
            )
    return rows


def _sender(channel: str) -> Callable[[Delivery], None]:
    return {Channel.EMAIL: email.send, Channel.SLACK: slack.send, Channel.WEBHOOK: webhooks.send}[Channel(channel)]


def recover_stuck(now: datetime) -> int:
    """Rows left "sending" by a worker that died: webhooks retried (same id), the rest marked unknown."""
    stuck = Delivery.objects.filter(status=DeliveryStatus.SENDING, claimed_at__lt=now - LEASE)
    retried = stuck.filter(channel=Channel.WEBHOOK, attempts__lt=MAX_ATTEMPTS).update(
        status=DeliveryStatus.PENDING, next_attempt_at=now, last_error="worker stopped mid-send; retrying"
    )
    stuck.update(status=DeliveryStatus.UNKNOWN, last_error="worker stopped mid-send; not re-sent")
    return retried


def claim(delivery_id: int, now: datetime) -> bool:
    """pending → sending, for exactly one worker (a conditional UPDATE, committed before sending)."""
    return bool(
        Delivery.objects.filter(id=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now).update(
            status=DeliveryStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1
        )
    )


def deliver_one(delivery_id: int, now: datetime | None = None) -> str | None:
    """Claim and send one delivery; returns its new status, or None when another worker has it."""
    now = now or timezone.now()
    if not claim(delivery_id, now):
        return None
    delivery = Delivery.objects.select_related("endpoint", "workspace").get(id=delivery_id)
    mine = Delivery.objects.filter(id=delivery_id, status=DeliveryStatus.SENDING, claimed_at=now)
    try:
        _sender(delivery.channel)(delivery)
    except DeliveryError as exc:
        give_up = exc.permanent or delivery.attempts >= MAX_ATTEMPTS
        wait = timedelta(seconds=exc.retry_after) if exc.retry_after else backoff(delivery.attempts)
        _record(
            mine,
            status=DeliveryStatus.FAILED if give_up else DeliveryStatus.PENDING,
            next_attempt_at=now + wait,
            last_error=str(exc)[:500],
        )
        logger.info("delivery %s failed (%s): %s", delivery.idempotency_key, delivery.attempts, exc)
        return DeliveryStatus.FAILED if give_up else DeliveryStatus.PENDING
    _record(mine, status=DeliveryStatus.SENT, sent_at=timezone.now(), last_error="")
    return DeliveryStatus.SENT


def _record(claimed: Any, **fields: Any) -> None:
    """Write a sent (or failed) delivery's outcome, waiting out a database that is briefly away (see
    RECORD_RETRY_SECONDS). Inside a transaction nothing can be retried: the error is raised."""
    for wait in (*RECORD_RETRY_SECONDS, None):
        try:
            claimed.update(**fields)
            return
        except (OperationalError, InterfaceError):
            if wait is None or connection.in_atomic_block:
                raise
            logger.warning("delivery outcome not written (database unavailable); retrying in %ss", wait)
            connection.close()
            time.sleep(wait)


def _destination(channel: str, endpoint_id: int | None, workspace_id: int) -> tuple[str, int | None]:
    return (channel, endpoint_id if channel == Channel.WEBHOOK else workspace_id)


def deliver_due(
    *, now: datetime | None = None, limit: int = 200, keys: Collection[str] | None = None
) -> dict[str, int]:
    """Send every due delivery once (only those of `keys` when given). Safe to run in several workers at once.

    One slow receiver must not hold up everyone else's: workspaces take turns (each workspace's oldest due
    delivery before any workspace's second), every send has an overall deadline (alerts.delivery.http), and a
    destination that fails in this pass gets no more tries in it; its other deliveries wait for the next pass.
    """
    now = now or timezone.now()
    recover_stuck(now)
    turn = Window(RowNumber(), partition_by=[F("workspace_id")], order_by=[F("next_attempt_at").asc(), F("id").asc()])
    pending = Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
    if keys is not None:
        pending = pending.filter(idempotency_key__in=list(keys))
    due = list(
        pending.annotate(turn=turn)
        .order_by("turn", "next_attempt_at", "id")
        .values_list("id", "channel", "endpoint_id", "workspace_id")[:limit]
    )
    counts: dict[str, int] = {}
    struggling: set[tuple[str, int | None]] = set()
    for delivery_id, channel, endpoint_id, workspace_id in due:
        destination = _destination(channel, endpoint_id, workspace_id)
        if destination in struggling:
            counts["postponed"] = counts.get("postponed", 0) + 1
            continue
        status = deliver_one(delivery_id, now)
        if status is not None:
            counts[status] = counts.get(status, 0) + 1
        if status == DeliveryStatus.PENDING and channel != Channel.EMAIL:
            struggling.add(destination)
    return counts
