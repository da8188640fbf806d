from __future__ import annotations

from django.urls import path

from sync import views

app_name = "sync"
urlpatterns = [
    path("", views.sync_settings, name="settings"),
    path("connect/salesforce/", views.oauth_start, name="oauth_start"),
    path("connect/hubspot/", views.oauth_start_hubspot, name="oauth_start_hubspot"),
    path("<uuid:connection_uuid>/now/", views.sync_now, name="sync_now"),
    path("deals/<uuid:deal_uuid>/", views.deal_panel, name="deal_panel"),
]
