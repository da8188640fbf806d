"""Schedules of the capture app, synced into django-q2 by `manage.py sync_schedules` (bulk queue)."""

from __future__ import annotations

SCHEDULES = [
    {"name": "capture.capture_all", "func": "capture.tasks.capture_all", "schedule_type": "I", "minutes": 5},
]
