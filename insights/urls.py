from __future__ import annotations

from django.urls import path

from insights import views

app_name = "insights"
urlpatterns: list = [
    # The deals that decide the period, rep insights and bottlenecks (issue 17, analytics).
    path("", views.insights_page, name="page"),
    path("focus/", views.focus_panel, name="focus"),
]
