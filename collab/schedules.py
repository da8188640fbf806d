"""Schedules of the collab app (synced by `manage.py sync_schedules`)."""

from __future__ import annotations

SCHEDULES = [
    # Each notification's email and push are sent by a task queued after commit; this catches any task lost.
    {"name": "collab.deliver_pending", "func": "collab.tasks.deliver_pending", "schedule_type": "I", "minutes": 1},
]
