from __future__ import annotations

from django.urls import path

from scoring import views

app_name = "scoring"
urlpatterns = [
    path("", views.model_page, name="model"),
    path("retrain/", views.retrain, name="retrain"),
    path("rollback/", views.rollback, name="rollback"),
    path("deals/<str:deal_uuid>/panel/", views.deal_panel, name="deal_panel"),
    path("deals/<str:deal_uuid>/flag/", views.flag, name="flag"),
]
