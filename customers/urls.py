from __future__ import annotations

from django.urls import path

from customers import views

app_name = "customers"
urlpatterns = [
    path("", views.customer_list, name="list"),
    path("expansion/", views.expansion_list, name="expansion"),
    path("forecast-panel/", views.forecast_panel, name="forecast_panel"),
    path("settings/", views.settings_save, name="settings"),
    path("<str:customer_uuid>/", views.customer_detail, name="detail"),
    path("<str:customer_uuid>/expansion-deal/", views.expansion_deal, name="expansion_deal"),
]
