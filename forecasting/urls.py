from __future__ import annotations

from django.urls import path

from forecasting import views, views_accuracy, views_calls, views_changes, views_rates, views_timing

app_name = "forecasting"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("latest/", views.latest, name="latest"),
    path("run/", views.run_now, name="run"),
    path("targets/", views.target_save, name="target_save"),
    path("what-if/", views.what_if, name="what_if"),
    path("what-if/deals/", views.what_if_deals, name="what_if_deals"),
    path("history/", views.history, name="history"),
    path("calls/", views_calls.calls_page, name="calls"),
    path("calls/submit/", views_calls.call_submit, name="call_submit"),
    path("calls/accuracy/", views_calls.calls_accuracy, name="calls_accuracy"),
    path("calls/leaderboard/", views_calls.leaderboard, name="leaderboard"),
    path("calls/settings/", views_calls.call_settings, name="call_settings"),
    path("history/backtests/", views_accuracy.backtest_jobs, name="backtest_jobs"),
    path("history/backtests/start/", views_accuracy.backtest_start, name="backtest_start"),
    path("changes/", views_changes.changes, name="changes"),
    path("deals/<uuid:deal_uuid>/timing/", views_timing.deal_timing, name="deal_timing"),
    path("rates/", views_rates.rates, name="rates"),
    path("rates/delete/", views_rates.rate_delete, name="rate_delete"),
]
