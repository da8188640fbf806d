from __future__ import annotations

from django.urls import path

from crm import views_data, views_duplicates

# Import, export and API-key pages, mounted at /w/<slug>/data/.
app_name = "crm_data"
urlpatterns = [
    path("export/deals.csv", views_data.export_deals, name="export_deals"),
    path("export/companies.csv", views_data.export_companies, name="export_companies"),
    path("export/contacts.csv", views_data.export_contacts, name="export_contacts"),
    path("export/activities.csv", views_data.export_activities, name="export_activities"),
    path("import/", views_data.import_page, name="import"),
    path("import/<uuid:job_uuid>/", views_data.import_job, name="import_job"),
    path("import/<uuid:job_uuid>/mapping/", views_data.import_mapping, name="import_mapping"),
    path("import/<uuid:job_uuid>/start/", views_data.import_run, name="import_start"),
    path("import/<uuid:job_uuid>/progress/", views_data.import_progress, name="import_progress"),
    path("import/<uuid:job_uuid>/errors.csv", views_data.import_errors, name="import_errors"),
    path("duplicates/<str:kind>/", views_duplicates.duplicates, name="duplicates"),
    path("duplicates/<str:kind>/merge/", views_duplicates.duplicates_merge, name="duplicates_merge"),
    path("duplicates/<str:kind>/dismiss/", views_duplicates.duplicates_dismiss, name="duplicates_dismiss"),
    path("merges/<uuid:merge_uuid>/undo/", views_duplicates.merge_undo_view, name="merge_undo"),
    path("api-keys/", views_data.api_keys, name="api_keys"),
    path("api-keys/<uuid:key_uuid>/revoke/", views_data.api_key_revoke_view, name="api_key_revoke"),
]
