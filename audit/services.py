"""Writes of the audit app: explicit audit events (exports, erasures). Row changes are logged by triggers."""

from __future__ import annotations

from typing import Any

from audit.models import AuditEvent
from tenancy.models import Workspace


def audit_record(
    *,
    workspace: Workspace,
    action: str,
    actor: str,
    object_model: str = "",
    object_id: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Record something that is not a row change. `details` must hold no personal data and no secret."""
    return AuditEvent.objects.create(
        workspace=workspace,
        action=action,
        actor=actor[:200],
        object_model=object_model,
        object_id=object_id,
        details=details or {},
    )
