from __future__ import annotations

app_name = "tenancy"
urlpatterns: list = []
