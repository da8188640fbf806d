from __future__ import annotations

from django.urls import path

from insights import views_briefs

app_name = "insights"
urlpatterns: list = [
    # AI briefs and Ask VectorOS (insights.views_briefs)
    path("deals/<uuid:deal_uuid>/brief/", views_briefs.deal_brief, name="deal_brief"),
    path("deals/<uuid:deal_uuid>/meeting-prep/", views_briefs.meeting_prep, name="meeting_prep"),
    path("briefs/weekly/", views_briefs.weekly, name="weekly"),
    path("briefs/forecast-change/", views_briefs.forecast_change, name="forecast_change"),
    path("ask/", views_briefs.ask_page, name="ask"),
]
