from __future__ import annotations

from django.urls import path

from similarity import views

app_name = "similarity"
urlpatterns = [
    path("", views.search, name="search"),
    path("deals/<str:deal_uuid>/panel/", views.deal_panel, name="deal_panel"),
]
