"""Reads of the audit log: row events (pghistory's aggregate `Events` over our event tables) merged with the
explicit audit events, newest first, one workspace at a time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Q
from pghistory.models import Events

from audit.models import EVENT_MODELS, SECRET_FIELDS, AuditEvent
from tenancy.models import Workspace

ACTIONS = {"insert": "created", "update": "updated", "delete": "deleted", "secret.changed": "secret changed"}
NOT_RECORDED = "(not recorded)"
SYSTEM = "system"  # background jobs: no request or command around the change


def _kinds() -> dict[str, type]:
    return {m.pgh_tracked_model._meta.label: m for m in EVENT_MODELS}  # type: ignore[attr-defined]


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


def _row_events(workspace: Workspace, filters: AuditFilters, limit: int) -> list[AuditEntry]:
    kinds = _kinds()
    if filters.kind in {"export", "erasure"}:
        return []
    models = [kinds[filters.kind]] if filters.kind in kinds else list(kinds.values())
    events = Events.objects.references(workspace).across(*models)
    if filters.since:
        events = events.filter(pgh_created_at__gte=filters.since)
    if filters.until:
        events = events.filter(pgh_created_at__lt=filters.until)
    if filters.actor:
        events = events.filter(pgh_context__actor__icontains=filters.actor)
    entries = []
    for event in events.order_by("-pgh_created_at", "-pgh_id")[:limit]:
        context = event.pgh_context or {}
        entries.append(
            AuditEntry(
                at=event.pgh_created_at,
                actor=str(context.get("actor") or SYSTEM),
                action=ACTIONS.get(event.pgh_label, event.pgh_label),
                object_model=event.pgh_obj_model,
                object_id=str(event.pgh_obj_id),
                changes=_changes(event),
            )
        )
    return entries


def _explicit_events(workspace: Workspace, filters: AuditFilters, limit: int) -> list[AuditEntry]:
    if filters.kind and filters.kind not in {"export", "erasure"}:
        return []
    events = AuditEvent.objects.for_workspace(workspace)
    if filters.kind:
        events = events.filter(action=filters.kind)
    if filters.since:
        events = events.filter(at__gte=filters.since)
    if filters.until:
        events = events.filter(at__lt=filters.until)
    if filters.actor:
        events = events.filter(Q(actor__icontains=filters.actor))
    return [
        AuditEntry(
            at=e.at,
            actor=e.actor,
            action=e.action,
            object_model=e.object_model,
            object_id=e.object_id,
            details=e.details,
        )
        for e in events.order_by("-at", "-id")[:limit]
    ]


def audit_entries(
    workspace: Workspace, filters: AuditFilters | None = None, *, offset: int = 0, limit: int = 50
) -> list[AuditEntry]:
    """Entries `offset`..`offset + limit` of the workspace's log, newest first."""
    filters = filters or AuditFilters()
    wanted = offset + limit
    merged = _row_events(workspace, filters, wanted) + _explicit_events(workspace, filters, wanted)
    merged.sort(key=lambda e: e.at, reverse=True)
    return merged[offset:wanted]
