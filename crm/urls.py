from __future__ import annotations

app_name = "crm"
urlpatterns: list = []
