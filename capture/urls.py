from __future__ import annotations

from django.urls import path

from capture import views

app_name = "capture"
urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("connections/", views.connections, name="connections"),
    path("connections/oauth/<str:provider>/<str:target>/", views.oauth_start, name="oauth_start"),
    path("connections/<str:kind>/<uuid:connection_uuid>/disconnect/", views.disconnect, name="disconnect"),
    path("captured/<str:kind>/<uuid:item_uuid>/assign/", views.assign, name="assign"),
    path("suggestions/<uuid:suggestion_uuid>/<str:action>/", views.suggestion, name="suggestion"),
    path("policy/", views.policy, name="policy"),
    path("deals/<uuid:deal_uuid>/", views.deal_panel, name="deal_panel"),
]
