"""Retention: what is older than the configured days goes (settings.RETENTION_DAYS, from VECTOROS_RETENTION_DAYS_*).

- forecast runs (with their per-deal parts), except the newest of each workspace and the newest of each forecast
  period, so the accuracy page's "past runs against actuals" keeps one run per period;
- monitor runs, except the newest of each workspace (the next pass compares against it);
- finished import jobs with their reports, and uploads nobody started (`crm.importers.jobs.import_uploads_prune`);
- deliveries that are done (digests, Slack and webhook messages; pending ones stay);
- audit events, both the row events of every event table and the explicit ones (exports, erasures).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from pghistory.models import Context

from alerts.models import Delivery, DeliveryStatus, MonitorRun
from audit.models import EVENT_MODELS, AuditEvent
from crm.importers.jobs import LIVE_UPLOAD_STATUSES, import_uploads_prune
from crm.models import ImportJob
from forecasting.models import ForecastRun


def _newest_ids(queryset: QuerySet[Any], *group_by: str) -> list[int]:
    """Ids of the newest row of each group (PostgreSQL's DISTINCT ON)."""
    order = [*group_by, f"-{queryset.model._meta.get_latest_by or 'created_at'}", "-id"]
    return list(queryset.order_by(*order).distinct(*group_by).values_list("id", flat=True))


def retention_prune(*, now: datetime | None = None, days: dict[str, int] | None = None) -> dict[str, int]:
    """Remove what is past its retention; returns how many of each kind went."""
    now = now or timezone.now()
    days = {**settings.RETENTION_DAYS, **(days or {})}

    def cutoff(kind: str) -> datetime:
        return now - timedelta(days=days[kind])

    removed: dict[str, int] = {}
    with transaction.atomic():
        runs = ForecastRun.objects.all()
        keep = _newest_ids(runs, "workspace_id") + _newest_ids(runs, "workspace_id", "period_start", "period_end")
        _total, by_model = runs.filter(created_at__lt=cutoff("forecast_runs")).exclude(id__in=keep).delete()
        removed["forecast_runs"] = by_model.get(ForecastRun._meta.label, 0)
        monitor = MonitorRun.objects.all()
        removed["monitor_runs"] = (
            monitor.filter(as_of__lt=cutoff("monitor_runs"))
            .exclude(id__in=_newest_ids(monitor, "workspace_id"))
            .delete()[0]
        )
        removed["import_jobs"] = (
            ImportJob.objects.filter(created_at__lt=cutoff("uploads"))
            .exclude(status__in=LIVE_UPLOAD_STATUSES)
            .delete()[0]
        )
        removed["deliveries"] = (
            Delivery.objects.filter(created_at__lt=cutoff("digests"))
            .exclude(Q(status=DeliveryStatus.PENDING) | Q(status=DeliveryStatus.SENDING))
            .delete()[0]
        )
        audit_cutoff = cutoff("audit")
        removed["audit_events"] = AuditEvent.objects.filter(at__lt=audit_cutoff).delete()[0]
        for model in EVENT_MODELS:
            removed["audit_events"] += model._default_manager.filter(pgh_created_at__lt=audit_cutoff).delete()[0]
        # The request and command contexts (who) that no remaining event points to.
        contexts = Context.objects.filter(updated_at__lt=audit_cutoff)
        for model in EVENT_MODELS:
            contexts = contexts.exclude(id__in=model._default_manager.values("pgh_context_id"))
        removed["audit_contexts"] = contexts.delete()[0]
    # Files last, outside the transaction: uploads nobody started within a day, and folders no job points to.
    removed["upload_folders"] = import_uploads_prune(now=now)
    return removed
