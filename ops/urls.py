from __future__ import annotations

from django.urls import path

from ops import views

urlpatterns = [
    path("health/live", views.live, name="health_live"),
    path("health/ready", views.ready, name="health_ready"),
    path("metrics", views.prometheus_metrics, name="prometheus_metrics"),
]
