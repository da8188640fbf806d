from __future__ import annotations

# Import, export and API-key pages, mounted at /w/<slug>/data/.
app_name = "crm_data"
urlpatterns: list = []
