from __future__ import annotations

app_name = "forecasting"
urlpatterns: list = []
