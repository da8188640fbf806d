"""Reads of the audit log: the row events of every event table merged with the explicit audit events (exports,
erasures), newest first, one workspace at a time.

Each event table is read with its own query, narrowed to the workspace and the filters and cut to the page before
anything else is done (pghistory's aggregate `Events` would compute every row's diff first: 0.6 s for a page of a
workspace with one Maven import). A row's "before" is the previous event of the same object, fetched beside it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection
from pghistory.models import Context

from audit.models import EVENT_MODELS, SECRET_FIELDS, AuditEvent
from tenancy.models import Workspace

ACTIONS = {"insert": "created", "update": "updated", "delete": "deleted", "secret.changed": "secret changed"}
EXPLICIT_KINDS = {"export", "erasure"}
NOT_RECORDED = "(not recorded)"
CONTEXT_TABLE = connection.ops.quote_name(Context._meta.db_table)  # who: one row per request, command or task
SYSTEM = "system"  # no request, command or task around the change (e.g. a migration's SQL)


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


def _event_models(filters: AuditFilters) -> list[Any]:
    kinds = _kinds()
    if filters.kind in EXPLICIT_KINDS:
        return []
    return [kinds[filters.kind]] if filters.kind in kinds else list(kinds.values())


def _where(model: Any, workspace: Workspace, filters: AuditFilters) -> tuple[str, list[Any]]:
    has_workspace = any(f.name == "workspace" for f in model._meta.concrete_fields)
    clauses = ["e.workspace_id = %s" if has_workspace else "e.pgh_obj_id = %s"]
    params: list[Any] = [workspace.pk]
    if filters.since:
        clauses.append("e.pgh_created_at >= %s")
        params.append(filters.since)
    if filters.until:
        clauses.append("e.pgh_created_at < %s")
        params.append(filters.until)
    if filters.actor:
        clauses.append("c.metadata ->> 'actor' ILIKE %s")
        params.append(f"%{filters.actor}%")
    return " AND ".join(clauses), params


def _row_keys(workspace: Workspace, filters: AuditFilters, limit: int) -> list[tuple[datetime, int, int, Any]]:
    """(time, event id, table index, None) of the newest `limit` row events of each table: cheap, no JSON yet."""
    keys: list[tuple[datetime, int, int, Any]] = []
    for index, model in enumerate(_event_models(filters)):
        table = connection.ops.quote_name(model._meta.db_table)
        where, params = _where(model, workspace, filters)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT e.pgh_created_at, e.pgh_id FROM {table} e LEFT JOIN {CONTEXT_TABLE} c "
                f"ON c.id = e.pgh_context_id WHERE {where} ORDER BY e.pgh_created_at DESC, e.pgh_id DESC LIMIT %s",
                [*params, limit],
            )
            keys += [(at, pgh_id, index, None) for at, pgh_id in cursor.fetchall()]
    return keys


def _row_entries(model: Any, ids: list[int]) -> dict[int, AuditEntry]:
    """The chosen events of one table, each with the previous event of its object (the "before")."""
    table = connection.ops.quote_name(model._meta.db_table)
    sql = f"""
        SELECT e.pgh_id, e.pgh_created_at, e.pgh_label, e.pgh_obj_id, c.metadata ->> 'actor', row_to_json(e)::text,
               (SELECT row_to_json(p)::text FROM {table} p
                 WHERE p.pgh_obj_id = e.pgh_obj_id AND p.pgh_id < e.pgh_id ORDER BY p.pgh_id DESC LIMIT 1)
        FROM {table} e LEFT JOIN {CONTEXT_TABLE} c ON c.id = e.pgh_context_id
        WHERE e.pgh_id = ANY(%s)"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [ids])
        rows = cursor.fetchall()
    tracked = model.pgh_tracked_model
    return {
        pgh_id: AuditEntry(
            at=at,
            actor=actor or SYSTEM,
            action=ACTIONS.get(label, label),
            object_model=tracked._meta.label,
            object_id=str(obj_id),
            changes=_changes(tracked, label, _data(current), _data(previous) if previous else None),
        )
        for pgh_id, at, label, obj_id, actor, current, previous in rows
    }


def _data(text: str) -> dict[str, Any]:
    return {k: v for k, v in json.loads(text).items() if not k.startswith("pgh_") and k != "id"}


def _changes(tracked: Any, label: str, current: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, list]:
    if label == "secret.changed":
        return {name: [NOT_RECORDED, NOT_RECORDED] for name in SECRET_FIELDS.get(tracked, [])}
    if label == "delete":
        return {k: [v, None] for k, v in current.items() if v not in (None, "", {}, [])}
    if label == "insert" or previous is None:  # an update whose earlier events were pruned shows what it set
        return {k: [None, v] for k, v in current.items() if v not in (None, "", {}, [])}
    return {k: [previous.get(k), v] for k, v in current.items() if previous.get(k) != v}


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
    """Entries `offset`..`offset + limit` of the workspace's log, newest first.

    The window is chosen from (time, id) keys of every table first; only its rows are then read in full.
    """
    filters = filters or AuditFilters()
    wanted = offset + limit
    keys = _row_keys(workspace, filters, wanted)
    explicit = _explicit_queryset(workspace, filters)
    if explicit is not None:
        keys += [(e.at, e.pk, -1, e) for e in explicit.order_by("-at", "-id")[:wanted]]
    keys.sort(key=lambda k: (k[0], k[1]), reverse=True)
    window = keys[offset:wanted]
    models = _event_models(filters)
    full: dict[tuple[int, int], AuditEntry] = {}
    for index in {k[2] for k in window if k[2] >= 0}:
        ids = [k[1] for k in window if k[2] == index]
        full.update({(index, i): entry for i, entry in _row_entries(models[index], ids).items()})
    return [_explicit_entry(k[3]) if k[2] < 0 else full[(k[2], k[1])] for k in window]


def audit_count(workspace: Workspace, filters: AuditFilters) -> int:
    total = 0
    for model in _event_models(filters):
        where, params = _where(model, workspace, filters)
        sql = (
            f"SELECT count(*) FROM {connection.ops.quote_name(model._meta.db_table)} e "
            f"LEFT JOIN {CONTEXT_TABLE} c ON c.id = e.pgh_context_id WHERE {where}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            total += cursor.fetchone()[0]
    explicit = _explicit_queryset(workspace, filters)
    return total + (explicit.count() if explicit is not None else 0)


class AuditLog:
    """The filtered log as a sequence Django's Paginator can page through (counted, then sliced)."""

    def __init__(self, workspace: Workspace, filters: AuditFilters) -> None:
        self.workspace, self.filters = workspace, filters

    def count(self) -> int:
        return audit_count(self.workspace, self.filters)

    def __getitem__(self, window: slice) -> list[AuditEntry]:
        start = window.start or 0
        return audit_entries(self.workspace, self.filters, offset=start, limit=(window.stop or start + 50) - start)
