"""Reads of the audit log: row events (pghistory's aggregate `Events` over our event tables) merged with the
explicit audit events, newest first, one workspace at a time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pghistory.models import Events

from audit.models import EVENT_MODELS, SECRET_FIELDS, AuditEvent
from tenancy.models import Workspace

ACTIONS = {"insert": "created", "update": "updated", "delete": "deleted", "secret.changed": "secret changed"}
NOT_RECORDED = "(not recorded)"
SYSTEM = "system"  # background jobs: no request or command around the change


def _kinds() -> dict[str, Any]:
    """Event models by the label of the model they track ("crm.Deal")."""
    return {m.pgh_tracked_model._meta.label: m for m in EVENT_MODELS}  # type: ignore[attr-defined]  # set by pghistory


KIND_CHOICES = [(label, label.split(".")[1]) for label in sorted(_kinds(), key=lambda s: s.split(".")[1])]
KIND_CHOICES += [("export", "Exports"), ("erasure", "Erasures")]


@dataclass
class AuditEntry:
    at: datetime
    actor: str
    action: str
    object_model: str
    object_id: str
    changes: dict[str, list[Any]] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "object": {"model": self.object_model, "id": self.object_id},
            "changes": self.changes,
            "details": self.details,
        }


@dataclass
class AuditFilters:
    kind: str = ""
    actor: str = ""
    since: datetime | None = None
    until: datetime | None = None


def _changes(event: Any) -> dict[str, list[Any]]:
    data = {k: v for k, v in (event.pgh_data or {}).items() if k not in {"id"}}
    if event.pgh_label == "insert":
        return {k: [None, v] for k, v in data.items() if v not in (None, "", {}, [])}
    if event.pgh_label == "delete":
        return {k: [v, None] for k, v in data.items() if v not in (None, "", {}, [])}
    if event.pgh_label == "secret.changed":
        tracked = _kinds()[event.pgh_obj_model].pgh_tracked_model
        return {name: [NOT_RECORDED, NOT_RECORDED] for name in SECRET_FIELDS.get(tracked, [])}
    return {k: list(v) for k, v in (event.pgh_diff or {}).items()}


EXPLICIT_KINDS = {"export", "erasure"}


def _row_queryset(workspace: Workspace, filters: AuditFilters) -> Any:
    """pghistory's aggregate of our event tables, narrowed to the workspace (rows pointing at it) and the filters."""
    kinds = _kinds()
    if filters.kind in EXPLICIT_KINDS:
        return None
    models = [kinds[filters.kind]] if filters.kind in kinds else list(kinds.values())
    events = Events.objects.references(workspace).across(*models)
    if filters.since:
        events = events.filter(pgh_created_at__gte=filters.since)
    if filters.until:
        events = events.filter(pgh_created_at__lt=filters.until)
    if filters.actor:
        events = events.filter(pgh_context__actor__icontains=filters.actor)
    return events


def _explicit_queryset(workspace: Workspace, filters: AuditFilters) -> Any:
    if filters.kind and filters.kind not in EXPLICIT_KINDS:
        return None
    events = AuditEvent.objects.for_workspace(workspace)
    if filters.kind:
        events = events.filter(action=filters.kind)
    if filters.since:
        events = events.filter(at__gte=filters.since)
    if filters.until:
        events = events.filter(at__lt=filters.until)
    if filters.actor:
        events = events.filter(actor__icontains=filters.actor)
    return events


def _row_entry(event: Any) -> AuditEntry:
    context = event.pgh_context or {}
    return AuditEntry(
        at=event.pgh_created_at,
        actor=str(context.get("actor") or SYSTEM),
        action=ACTIONS.get(event.pgh_label, event.pgh_label),
        object_model=event.pgh_obj_model,
        object_id=str(event.pgh_obj_id),
        changes=_changes(event),
    )


def _explicit_entry(event: AuditEvent) -> AuditEntry:
    return AuditEntry(
        at=event.at,
        actor=event.actor,
        action=event.action,
        object_model=event.object_model,
        object_id=event.object_id,
        details=event.details,
    )


def audit_entries(
    workspace: Workspace, filters: AuditFilters | None = None, *, offset: int = 0, limit: int = 50
) -> list[AuditEntry]:
    """Entries `offset`..`offset + limit` of the workspace's log, newest first."""
    filters = filters or AuditFilters()
    wanted = offset + limit
    merged: list[AuditEntry] = []
    rows = _row_queryset(workspace, filters)
    if rows is not None:
        merged += [_row_entry(e) for e in rows.order_by("-pgh_created_at", "-pgh_id")[:wanted]]
    explicit = _explicit_queryset(workspace, filters)
    if explicit is not None:
        merged += [_explicit_entry(e) for e in explicit.order_by("-at", "-id")[:wanted]]
    merged.sort(key=lambda e: e.at, reverse=True)
    return merged[offset:wanted]


class AuditLog:
    """The filtered log as a sequence Django's Paginator can page through (counted, then sliced)."""

    def __init__(self, workspace: Workspace, filters: AuditFilters) -> None:
        self.workspace, self.filters = workspace, filters

    def count(self) -> int:
        querysets = [_row_queryset(self.workspace, self.filters), _explicit_queryset(self.workspace, self.filters)]
        return sum(qs.count() for qs in querysets if qs is not None)

    def __getitem__(self, window: slice) -> list[AuditEntry]:
        start = window.start or 0
        return audit_entries(self.workspace, self.filters, offset=start, limit=(window.stop or start + 50) - start)
