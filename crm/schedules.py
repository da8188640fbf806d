"""Schedules of the crm app, synced into django-q2 by `manage.py sync_schedules`."""

from __future__ import annotations

SCHEDULES = [
    {"name": "crm.prune_uploads", "func": "crm.tasks_import.prune_uploads", "schedule_type": "H"},
]
