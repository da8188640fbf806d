from __future__ import annotations

from django.urls import path

from insights import views, views_briefs

app_name = "insights"
urlpatterns: list = [
    # The deals that decide the period, rep insights and bottlenecks (issue 17, analytics).
    path("", views.insights_page, name="page"),
    path("focus/", views.focus_panel, name="focus"),
    # AI briefs and Ask VectorOS (insights.views_briefs)
    path("deals/<uuid:deal_uuid>/brief/", views_briefs.deal_brief, name="deal_brief"),
    path("deals/<uuid:deal_uuid>/meeting-prep/", views_briefs.meeting_prep, name="meeting_prep"),
    path("briefs/weekly/", views_briefs.weekly, name="weekly"),
    path("briefs/forecast-change/", views_briefs.forecast_change, name="forecast_change"),
    path("ask/", views_briefs.ask_page, name="ask"),
]
