"""Schedules of the audit app, synced into django-q2 by `manage.py sync_schedules`."""

from __future__ import annotations

SCHEDULES = [
    {
        "name": "audit.prune_retention",
        "func": "audit.tasks.prune_retention",
        "schedule_type": "C",
        "cron": "15 4 * * *",
    },
]
