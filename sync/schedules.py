"""Schedules of the sync app, synced into django-q2 by `manage.py sync_schedules`. Each connection's own interval
(10 minutes by default) is checked by `sync_due` every minute."""

from __future__ import annotations

SCHEDULES = [{"name": "sync.due", "func": "sync.tasks.sync_due", "schedule_type": "I", "minutes": 1}]
