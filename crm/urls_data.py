from __future__ import annotations

from django.urls import path

from crm import views_data

# Import, export and API-key pages, mounted at /w/<slug>/data/.
app_name = "crm_data"
urlpatterns = [
    path("export/deals.csv", views_data.export_deals, name="export_deals"),
    path("export/companies.csv", views_data.export_companies, name="export_companies"),
    path("export/contacts.csv", views_data.export_contacts, name="export_contacts"),
    path("export/activities.csv", views_data.export_activities, name="export_activities"),
]
