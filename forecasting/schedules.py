from __future__ import annotations

SCHEDULES = [
    {"name": "forecasting: nightly forecast", "func": "forecasting.tasks.forecast_scheduled", "schedule_type": "D"},
]
