from __future__ import annotations

app_name = "scoring"
urlpatterns: list = []
