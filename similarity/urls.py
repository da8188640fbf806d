from __future__ import annotations

app_name = "similarity"
urlpatterns: list = []
