"""Customers schedules (synced by `manage.py sync_schedules`)."""

from __future__ import annotations

SCHEDULES = [
    # Health, risk, renewal deals and the 90/60/30-day renewal alerts (each raised once), every morning.
    {"name": "customers-daily", "func": "customers.tasks.customers_daily", "schedule_type": "C", "cron": "15 4 * * *"},
]
