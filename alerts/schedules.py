"""Schedules of the alerts app, synced into django-q2 by `manage.py sync_schedules`."""

from __future__ import annotations

SCHEDULES = [
    {"name": "alerts.run_monitors", "func": "alerts.tasks.run_monitors_all", "schedule_type": "I", "minutes": 30},
    {
        "name": "alerts.digest_daily",
        "func": "alerts.tasks.send_daily_digests",
        "schedule_type": "C",
        "cron": "0 7 * * *",
    },
    {
        "name": "alerts.digest_weekly",
        "func": "alerts.tasks.send_weekly_digests",
        "schedule_type": "C",
        "cron": "0 7 * * 1",
    },
    {
        "name": "alerts.calibrate_monthly",
        "func": "alerts.tasks.calibrate_all",
        "schedule_type": "C",
        "cron": "30 3 1 * *",
    },
    {"name": "alerts.deliveries", "func": "alerts.tasks.deliver_pending", "schedule_type": "I", "minutes": 1},
]
