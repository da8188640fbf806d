from __future__ import annotations

from django.urls import path

from forecasting import views, views_calls

app_name = "forecasting"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("latest/", views.latest, name="latest"),
    path("run/", views.run_now, name="run"),
    path("targets/", views.target_save, name="target_save"),
    path("what-if/", views.what_if, name="what_if"),
    path("history/", views.history, name="history"),
    path("calls/", views_calls.calls_page, name="calls"),
    path("calls/submit/", views_calls.call_submit, name="call_submit"),
    path("calls/accuracy/", views_calls.calls_accuracy, name="calls_accuracy"),
    path("calls/leaderboard/", views_calls.leaderboard, name="leaderboard"),
    path("calls/settings/", views_calls.call_settings, name="call_settings"),
]
