from __future__ import annotations

from django.urls import path

from alerts import views

app_name = "alerts"
urlpatterns = [
    path("", views.alert_list, name="list"),
    path("badge/", views.badge, name="badge"),
    path("relevance/", views.relevance, name="relevance"),
    path("preferences/", views.preferences, name="preferences"),
    path("settings/", views.workspace_settings, name="settings"),
    path("webhooks/", views.webhooks, name="webhooks"),
    path("webhooks/<uuid:endpoint_uuid>/delete/", views.webhook_delete, name="webhook_delete"),
    path("deals/<uuid:deal_uuid>/", views.deal_panel, name="deal_panel"),
    path("<uuid:alert_uuid>/acknowledge/", views.acknowledge, name="acknowledge"),
    path("<uuid:alert_uuid>/snooze/", views.snooze, name="snooze"),
    path("<uuid:alert_uuid>/dismiss/", views.dismiss, name="dismiss"),
    path("<uuid:alert_uuid>/resolve/", views.resolve, name="resolve"),
    path("<uuid:alert_uuid>/reopen/", views.reopen, name="reopen"),
    path("bulk/", views.bulk, name="bulk"),
]
