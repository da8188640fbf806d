"""Reads that feed the alert screens, digests and the relevance page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import Http404

from alerts.calibration import data_gaps
from alerts.models import ACTIVE_STATUSES, DEAL_KINDS, Alert, AlertCalibration, Priority
from crm.models import Activity, Deal, DealHistory, TrackedField
from tenancy.models import Membership, Workspace
from tenancy.scope import Scope

ACTION_WINDOW = timedelta(days=7)


def alerts_for_member(
    scope: Scope,
    *,
    today: date,
    status: str = "attention",
    kind: str = "",
    min_priority: int | None = None,
    owner: Membership | None = None,
    deal: Deal | None = None,
    search: str = "",
) -> QuerySet[Alert]:
    """The member's alerts (their deals and their team's; workspace-level ones for those who see all).

    `status`: "attention" (the default list and the badge), "active" (every unresolved one), "all", or one status.
    """
    qs = Alert.objects.visible_to(scope).select_related("deal", "deal__owner", "deal__stage")
    if status == "attention":
        qs = qs.needing_attention(today)
    elif status == "active":
        qs = qs.filter(status__in=ACTIVE_STATUSES)
    elif status and status != "all":
        qs = qs.filter(status=status)
    if kind:
        qs = qs.filter(kind=kind)
    if min_priority:
        qs = qs.filter(priority__gte=min_priority)
    if owner is not None:
        qs = qs.filter(deal__owner=owner)
    if deal is not None:
        qs = qs.filter(deal=deal)
    if search:
        qs = qs.filter(deal__title__icontains=search)
    return qs.order_by("-priority", "-score", "-first_seen_at", "-id")


def alerts_needing_attention(scope: Scope, *, today: date) -> QuerySet[Alert]:
    """What the alerts page lists by default, and so what the nav badge counts: one selector for both."""
    return alerts_for_member(scope, today=today, status="attention")


@dataclass(frozen=True)
class BadgeCounts:
    urgent: int  # High and Critical: the badge turns red when there are any
    total: int  # the number on the badge: the default list's count


def badge_counts(scope: Scope, *, today: date) -> BadgeCounts:
    """The badge shows exactly as many alerts as the default list; urgent ones only change its colour."""
    counts = (
        alerts_needing_attention(scope, today=today)
        .order_by()
        .aggregate(total=Count("id"), urgent=Count("id", filter=Q(priority__gte=Priority.HIGH)))
    )
    return BadgeCounts(urgent=counts["urgent"], total=counts["total"])


def deal_alerts(deal: Deal) -> QuerySet[Alert]:
    return Alert.objects.filter(deal=deal, status__in=ACTIVE_STATUSES).order_by("-priority", "-score")


def get_alert_for_member(scope: Scope, alert_uuid) -> Alert:
    """The alert if this member may see it; 404 for anything else (another workspace's, a hidden deal's)."""
    alert = Alert.objects.visible_to(scope).select_related("deal").filter(uuid=alert_uuid).first()
    if alert is None:
        raise Http404("No such alert")
    return alert


@dataclass(frozen=True)
class KindRelevance:
    kind: str
    label: str
    raised: int
    acted_on: int
    not_useful: int

    @property
    def acted_share(self) -> float | None:
        return self.acted_on / self.raised if self.raised else None

    @property
    def not_useful_share(self) -> float | None:
        return self.not_useful / self.raised if self.raised else None


def relevance_by_kind(workspace: Workspace, *, since: datetime, until: datetime) -> list[KindRelevance]:
    """Per kind, of the deal alerts first raised in [since, until]: how many led to action within 7 days
    (an activity logged, or the stage or close date changed) and how many were dismissed as not useful."""
    window_end = OuterRef("first_seen_at") + ACTION_WINDOW
    activity = Activity.objects.filter(
        deal_id=OuterRef("deal_id"), occurred_at__gte=OuterRef("first_seen_at"), occurred_at__lte=window_end
    )
    change = DealHistory.objects.filter(
        deal_id=OuterRef("deal_id"),
        field__in=[TrackedField.STAGE, TrackedField.EXPECTED_CLOSE_DATE, TrackedField.OUTCOME],
        changed_at__gte=OuterRef("first_seen_at"),
        changed_at__lte=window_end,
    )
    rows = (
        Alert.objects.for_workspace(workspace)
        .filter(deal__isnull=False, first_seen_at__gte=since, first_seen_at__lte=until)
        .values("kind")
        .annotate(
            raised=Count("id"),
            acted_on=Count("id", filter=Q(Exists(activity)) | Q(Exists(change))),
            not_useful=Count("id", filter=Q(not_useful=True)),
        )
        .order_by()
    )
    found: dict[str, Any] = {r["kind"]: r for r in rows}
    empty = {"raised": 0, "acted_on": 0, "not_useful": 0}
    return [
        KindRelevance(
            kind=str(kind),
            label=kind.label,
            raised=found.get(kind, empty)["raised"],
            acted_on=found.get(kind, empty)["acted_on"],
            not_useful=found.get(kind, empty)["not_useful"],
        )
        for kind in DEAL_KINDS
    ]


@dataclass(frozen=True)
class KindBacktest:
    kind: str
    label: str
    figures: dict[str, Any]  # pooled grade of the latest calibration (precision, lift, intervals, verdict)
    gap: dict[str, str] | None  # why the rule cannot run here, and what to connect


def backtest_by_kind(workspace: Workspace) -> tuple[Any, list[KindBacktest]]:
    """The latest calibration of the workspace's deal rules (None before the first) and, per rule, its
    backtest figures on this workspace's history and what data it lacks."""
    latest = AlertCalibration.objects.for_workspace(workspace).first()
    gaps = {gap["kind"]: gap for gap in data_gaps(workspace)}
    figures = latest.by_kind if latest else {}
    return latest, [
        KindBacktest(kind=str(kind), label=kind.label, figures=figures.get(str(kind), {}), gap=gaps.get(str(kind)))
        for kind in DEAL_KINDS
    ]


def digest_alerts(membership: Membership, *, today: date, min_priority: int, limit: int = 10) -> list[Alert]:
    scope = Scope.for_member(membership)
    return list(alerts_for_member(scope, today=today, min_priority=min_priority)[:limit])
