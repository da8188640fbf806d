"""Worker tasks for imports started from the web: they take ids and call the service."""

from __future__ import annotations

from crm.importers.jobs import import_job_run as _run
from crm.importers.jobs import import_uploads_prune


def import_job_run(job_id: int) -> None:
    _run(job_id=job_id)


def prune_uploads() -> int:
    """Hourly: uploads nobody started within a day are removed (crm/schedules.py)."""
    return import_uploads_prune()
