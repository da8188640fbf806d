"""Writes of the alerts app: a monitor pass, people's responses to alerts, settings and preferences."""

from __future__ import annotations

import time
import zlib
from collections import Counter
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from psycopg.types.json import Jsonb

from alerts import pipeline_checks
from alerts.calibration import calibration_latest, thresholds_with
from alerts.delivery import outbox
from alerts.detectors import Thresholds
from alerts.evaluation import evaluate
from alerts.facts import load_facts
from alerts.messages import describe
from alerts.models import (
    DEAL_KINDS,
    Alert,
    AlertKind,
    AlertSettings,
    AlertStatus,
    DigestFrequency,
    MonitorRun,
    NotificationPreference,
    Priority,
    WebhookEndpoint,
)
from crm.models import Deal
from scoring.selectors import deal_win_probabilities, model_drift
from tenancy.models import Membership, Workspace


def alert_settings_get(*, workspace: Workspace | int) -> AlertSettings:
    workspace_id = workspace if isinstance(workspace, int) else workspace.id
    found, _ = AlertSettings.objects.get_or_create(workspace_id=workspace_id)
    return found


def thresholds_for(settings_row: AlertSettings) -> Thresholds:
    try:
        return Thresholds.from_dict(settings_row.thresholds)
    except (TypeError, ValueError):
        return Thresholds()  # a hand-edited bad value must not stop the monitors


def _lock_workspace(workspace_id: int) -> None:
    """One monitor pass per workspace at a time (the lock ends with the transaction)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [(zlib.crc32(b"alerts.monitors") << 31) + workspace_id])


def monitors_run(*, workspace: Workspace, as_of: datetime | None = None) -> dict[str, Any]:
    """One pass of every detector over the workspace's open deals: create, update and resolve alerts.

    Idempotent: a second pass over unchanged data creates nothing and resolves nothing.
    """
    started = time.perf_counter()
    now = as_of or timezone.now()
    settings_row = alert_settings_get(workspace=workspace)
    calibration = calibration_latest(workspace)
    thresholds = thresholds_with(thresholds_for(settings_row), set(settings_row.thresholds or {}), calibration)
    win = deal_win_probabilities(workspace.id)
    with transaction.atomic():
        _lock_workspace(workspace.id)
        last_run = MonitorRun.objects.filter(workspace=workspace, as_of__lt=now).first()
        loaded = load_facts(
            workspace,
            now,
            thresholds,
            win_probabilities=win,
            previous_win_probabilities=last_run.win_probabilities if last_run else None,
        )
        wanted = evaluate(loaded, thresholds, calibration=calibration)
        stats = _apply(workspace, now, wanted, loaded, thresholds)
        for kind, found in pipeline_checks.run(workspace, now, thresholds, settings_row, loaded.all_deals).items():
            _apply_workspace_alert(workspace, now, kind, found, stats)
        _apply_workspace_alert(workspace, now, AlertKind.MODEL_DRIFT, _model_drift(workspace.id), stats)
        MonitorRun.objects.create(
            workspace=workspace,
            as_of=now,
            stats={k: v for k, v in stats.items() if k != "new_alert_ids"},
            win_probabilities={str(k): v for k, v in win.items()},
        )
        outbox.alerts_changed(workspace=workspace, settings_row=settings_row, **stats)
    by_kind: Counter[str] = Counter()
    by_priority: Counter[str] = Counter()
    for kind, prio in Alert.objects.for_workspace(workspace).active().values_list("kind", "priority"):
        by_kind[kind] += 1
        by_priority[Priority(prio).label] += 1
    return {
        "deals_checked": len(loaded.snapshots),
        "alerts": {"created": len(stats["created"]), "updated": stats["updated"], "resolved": len(stats["resolved"])},
        "by_kind": dict(sorted(by_kind.items())),
        "by_priority": {p.label: by_priority.get(p.label, 0) for p in sorted(Priority, reverse=True)},
        "seconds": round(time.perf_counter() - started, 3),
    }


def _apply(workspace: Workspace, now: datetime, wanted: dict, loaded, thresholds: Thresholds) -> dict[str, Any]:
    """Create the wanted alerts that are missing, refresh those that exist, resolve the rest."""
    existing = {
        (a.deal_id, a.kind): a
        for a in Alert.objects.for_workspace(workspace)
        .active()
        .filter(deal__isnull=False, kind__in=DEAL_KINDS)
        .only(*_REFRESHED, "deal_id", "kind", "status", "snoozed_until")
    }
    created: list[Alert] = []
    changed: list[Alert] = []
    unchanged: list[int] = []
    escalated: list[int] = []
    f = loaded.facts
    for (deal_id, kind), fields in wanted.items():
        i = fields["index"]
        snapshot = loaded.snapshots[i]
        seen, why, next_step, details = describe(kind, f, i, loaded.stage_names.get(snapshot.stage_id, ""), thresholds)
        if fields.get("note"):
            why = f"{why} {fields['note']}"
        values = {
            "priority": fields["priority"],
            "score": round(fields["score"], 2),
            "revenue_at_risk": Decimal(str(round(fields["revenue_at_risk"], 2))),
            "seen": seen,
            "why": why,
            "next_step": next_step,
            "details": details,
        }
        alert = existing.pop((deal_id, kind), None)
        if alert is None:
            created.append(
                Alert(workspace=workspace, deal_id=deal_id, kind=kind, first_seen_at=now, last_seen_at=now, **values)
            )
            continue
        # Score drifts a little every pass (idle days grow); only a change a person would notice is an update.
        dirty = any(getattr(alert, k) != values[k] for k in ("priority", "seen", "why", "next_step", "details"))
        if alert.status == AlertStatus.SNOOZED and alert.snoozed_until and alert.snoozed_until <= now.date():
            alert.status, alert.snoozed_until, dirty = AlertStatus.OPEN, None, True
        if values["priority"] > alert.priority:
            escalated.append(alert.id)
        for k, v in values.items():
            setattr(alert, k, v)
        alert.last_seen_at = now
        (changed if dirty else unchanged).append(alert if dirty else alert.id)
    Alert.objects.bulk_create(created, batch_size=1000)
    _update_rows(changed)
    resolved = [a.id for a in existing.values()]
    Alert.objects.filter(id__in=resolved).update(status=AlertStatus.RESOLVED, resolved_at=now)
    Alert.objects.filter(id__in=unchanged).update(last_seen_at=now)
    return {
        "created": [a.id for a in created],
        "updated": len(changed),
        "resolved": resolved,
        "escalated": escalated,
    }


_REFRESHED = ("priority", "score", "revenue_at_risk", "seen", "why", "next_step", "details")


def _update_rows(alerts: list[Alert]) -> None:
    """One pipelined UPDATE per changed alert (much faster than bulk_update's CASE for many columns)."""
    if not alerts:
        return
    columns = ["priority", "score", "revenue_at_risk", "seen", "why", "next_step", "details", "status"]
    columns += ["snoozed_until", "last_seen_at"]
    sets = ", ".join(f"{c} = %s" for c in columns)
    rows: list[list[Any]] = [
        [*(Jsonb(a.details) if c == "details" else getattr(a, c) for c in columns), a.id] for a in alerts
    ]
    with connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {Alert._meta.db_table} SET {sets} WHERE id = %s", rows)


def _apply_workspace_alert(
    workspace: Workspace, now: datetime, kind: str, found: dict[str, Any] | None, stats: dict[str, Any]
) -> None:
    """`found` is the alert's fields when the condition holds, None when it does not (then resolve)."""
    alert = Alert.objects.for_workspace(workspace).active().filter(deal__isnull=True, kind=kind).first()
    if found is None:
        if alert is not None:
            Alert.objects.filter(id=alert.id).update(status=AlertStatus.RESOLVED, resolved_at=now)
            stats["resolved"].append(alert.id)
        return
    if alert is None:
        alert = Alert.objects.create(workspace=workspace, kind=kind, first_seen_at=now, last_seen_at=now, **found)
        stats["created"].append(alert.id)
        return
    dirty = any(getattr(alert, k) != v for k, v in found.items())
    if found.get("priority", 0) > alert.priority:
        stats["escalated"].append(alert.id)
    for k, v in found.items():
        setattr(alert, k, v)
    alert.last_seen_at = now
    alert.save()
    stats["updated"] += int(dirty)


def _model_drift(workspace_id: int) -> dict[str, Any] | None:
    """The workspace's "model drift" alert fields while scoring's latest check of the active model drifts."""
    report = model_drift(workspace_id)
    if report is None:
        return None
    return {
        "priority": Priority.HIGH,
        "score": 0.0,
        "seen": report.summary,
        "why": "Scores from a drifting model mislead forecasts, rankings and the alerts built on them.",
        "next_step": "Review the scoring page and retrain the model on recent outcomes.",
        "details": {"model": str(report.model.uuid), "psi": report.psi, "brier_since": report.brier_since},
    }


def alert_raise_for_deal(
    *, workspace: Workspace, deal: Deal, kind: str, now: datetime, fields: dict[str, Any]
) -> Alert:
    """Raise an alert on `deal` for a caller outside the monitors (renewals): an active alert of the same
    kind on that deal is resolved first (superseded), and webhooks/Slack hear of it like a monitor's alert.
    The caller owns idempotency (it raises each alert once)."""
    with transaction.atomic():
        old = list(
            Alert.objects.for_workspace(workspace).active().filter(deal=deal, kind=kind).values_list("id", flat=True)
        )
        Alert.objects.filter(id__in=old).update(status=AlertStatus.RESOLVED, resolved_at=now)
        alert = Alert.objects.create(
            workspace=workspace, deal=deal, kind=kind, first_seen_at=now, last_seen_at=now, **fields
        )
        stats = {"created": [alert.id], "resolved": old, "escalated": []}
        outbox.alerts_changed(workspace=workspace, settings_row=alert_settings_get(workspace=workspace), **stats)
    return alert


def alerts_resolve_for_deleted_deals(*, workspace_id: int, deal_ids: list[int]) -> int:
    """Resolve the open alerts of the deleted deals among `deal_ids` (after a restore, monitors raise them again)."""
    deleted = Deal.all_objects.for_workspace(workspace_id).deleted().filter(id__in=deal_ids)
    alerts = Alert.objects.for_workspace(workspace_id).active().filter(deal__in=deleted)
    return alerts.update(status=AlertStatus.RESOLVED, resolved_at=timezone.now())


def _check_actor(alert: Alert, actor: Membership, action: str) -> None:
    if alert.workspace_id != actor.workspace_id or not actor.can_write:
        raise ValidationError("You cannot change this alert.")
    if action not in alert.available_actions:
        if alert.status == AlertStatus.RESOLVED:
            raise ValidationError("This alert is already resolved.")
        if alert.status == AlertStatus.DISMISSED:
            raise ValidationError("This alert was dismissed: reopen it first.")
        raise ValidationError(f"This alert is {alert.get_status_display().lower()}: it cannot be {action}d again.")


@transaction.atomic
def alert_acknowledge(*, alert: Alert, actor: Membership) -> Alert:
    _check_actor(alert, actor, "acknowledge")
    alert.status, alert.acknowledged_at, alert.acknowledged_by = AlertStatus.ACKNOWLEDGED, timezone.now(), actor
    alert.snoozed_until = None
    alert.save(update_fields=["status", "acknowledged_at", "acknowledged_by", "snoozed_until"])
    return alert


@transaction.atomic
def alert_snooze(*, alert: Alert, actor: Membership, until: date | None) -> Alert:
    _check_actor(alert, actor, "snooze")
    if until is None:
        raise ValidationError({"until": "Choose the date to snooze until."})
    if until <= timezone.localdate():
        raise ValidationError({"until": "Snooze until a date in the future."})
    alert.status, alert.snoozed_until = AlertStatus.SNOOZED, until
    alert.save(update_fields=["status", "snoozed_until"])
    return alert


@transaction.atomic
def alert_dismiss(*, alert: Alert, actor: Membership, not_useful: bool, feedback: str = "") -> Alert:
    _check_actor(alert, actor, "dismiss")
    alert.status, alert.dismissed_at, alert.dismissed_by = AlertStatus.DISMISSED, timezone.now(), actor
    alert.not_useful, alert.feedback = not_useful, feedback[:500]
    alert.save(update_fields=["status", "dismissed_at", "dismissed_by", "not_useful", "feedback"])
    return alert


@transaction.atomic
def alert_resolve(*, alert: Alert, actor: Membership) -> Alert:
    """Resolved by hand: the (deal, kind) slot is freed, so the next monitor pass raises it again if it still holds."""
    _check_actor(alert, actor, "resolve")
    alert.status, alert.resolved_at, alert.snoozed_until = AlertStatus.RESOLVED, timezone.now(), None
    alert.save(update_fields=["status", "resolved_at", "snoozed_until"])
    return alert


@transaction.atomic
def alert_reopen(*, alert: Alert, actor: Membership) -> Alert:
    """A dismissal taken back: the alert needs attention again and no longer counts as "not useful"."""
    _check_actor(alert, actor, "reopen")
    alert.status, alert.dismissed_at, alert.dismissed_by, alert.not_useful = AlertStatus.OPEN, None, None, False
    alert.save(update_fields=["status", "dismissed_at", "dismissed_by", "not_useful"])
    return alert


ALERT_ACTION_VERBS = {
    "acknowledge": "acknowledged",
    "snooze": "snoozed",
    "dismiss": "dismissed",
    "resolve": "resolved",
    "reopen": "reopened",
}


def alerts_respond(
    *, alerts: list[Alert], actor: Membership, action: str, until: date | None = None
) -> tuple[list[Alert], list[tuple[Alert, str]]]:
    """The same response to many alerts (the list's bulk actions): (changed, [(skipped, why)]).

    Each alert goes through its own service, so a bulk action refuses exactly what a single one would."""
    if action not in ALERT_ACTION_VERBS:
        raise ValidationError(f"Unknown action {action!r}.")
    if action == "snooze" and until is None:
        raise ValidationError({"until": "Choose the date to snooze until."})
    changed: list[Alert] = []
    skipped: list[tuple[Alert, str]] = []
    for alert in alerts:
        try:
            if action == "acknowledge":
                alert_acknowledge(alert=alert, actor=actor)
            elif action == "snooze":
                alert_snooze(alert=alert, actor=actor, until=until)
            elif action == "dismiss":
                alert_dismiss(alert=alert, actor=actor, not_useful=False)
            elif action == "resolve":
                alert_resolve(alert=alert, actor=actor)
            else:
                alert_reopen(alert=alert, actor=actor)
        except ValidationError as exc:
            skipped.append((alert, " ".join(exc.messages)))
        else:
            changed.append(alert)
    return changed, skipped


def notification_preference_save(*, membership: Membership, digest: str, min_priority: int) -> NotificationPreference:
    if digest not in DigestFrequency.values or min_priority not in Priority.values:
        raise ValidationError("Unknown digest frequency or priority.")
    pref, _ = NotificationPreference.objects.update_or_create(
        membership=membership, defaults={"digest": digest, "min_priority": min_priority}
    )
    return pref


def alert_settings_save(
    *,
    workspace: Workspace,
    thresholds: dict[str, float],
    quarter_target: Decimal | None,
    slack_webhook_url: str,
    slack_enabled: bool,
) -> AlertSettings:
    try:
        Thresholds.from_dict(thresholds)
    except (TypeError, ValueError) as exc:
        raise ValidationError(str(exc)) from None
    row = alert_settings_get(workspace=workspace)
    row.thresholds = {k: v for k, v in thresholds.items() if k in Thresholds().as_dict()}
    row.quarter_target = quarter_target
    row.slack_webhook_url = slack_webhook_url
    row.slack_enabled = slack_enabled and bool(slack_webhook_url)
    row.full_clean()
    row.save()
    return row


def webhook_endpoint_create(
    *, workspace: Workspace, url: str, send_alert_events: bool, send_deal_events: bool
) -> WebhookEndpoint:
    endpoint = WebhookEndpoint(
        workspace=workspace, url=url, send_alert_events=send_alert_events, send_deal_events=send_deal_events
    )
    endpoint.full_clean()
    endpoint.save()
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    endpoint.is_active = False
    endpoint.save(update_fields=["is_active"])
