"""Jobs of the audit app (django-q2): thin, they call the service."""

from __future__ import annotations

import logging

from audit.retention import retention_prune

log = logging.getLogger(__name__)


def prune_retention() -> dict[str, int]:
    """Daily (audit/schedules.py): remove what is past its retention."""
    removed = retention_prune()
    log.info("retention: %s", removed)
    return removed
