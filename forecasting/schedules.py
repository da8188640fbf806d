from __future__ import annotations

SCHEDULES = [
    {"name": "forecasting: nightly forecast", "func": "forecasting.tasks.forecast_scheduled", "schedule_type": "D"},
    # The blend with the run rate and the interval scaling are learnt from past origins: refresh them monthly.
    {
        "name": "forecasting: monthly rolling backtest",
        "func": "forecasting.tasks.backtest_rolling_scheduled",
        "schedule_type": "C",
        "cron": "0 4 2 * *",
    },
]
