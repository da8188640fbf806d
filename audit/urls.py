from __future__ import annotations

from django.urls import path

from audit import views

app_name = "audit"
urlpatterns = [
    path("", views.audit_log, name="log"),
    path("erase/<uuid:contact_uuid>/", views.erase_contact, name="erase_contact"),
]
