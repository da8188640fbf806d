"""Scoring schedules (synced by `manage.py sync_schedules`)."""

from __future__ import annotations

SCHEDULES = [
    {"name": "scoring-retrain-monthly", "func": "scoring.tasks.retrain_all", "schedule_type": "C", "cron": "0 3 1 * *"},
    {
        "name": "scoring-rescore-nightly",
        "func": "scoring.tasks.rescore_all",
        "schedule_type": "C",
        "cron": "30 2 * * *",
    },
]
