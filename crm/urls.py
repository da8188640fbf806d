from __future__ import annotations

from django.urls import path

from crm import views, views_board, views_categories, views_records, views_saved, views_setup

app_name = "crm"
urlpatterns = [
    path("", views_board.board, name="board"),
    path("deals/", views.deal_list, name="deal_list"),
    path("deals/new/", views.deal_create, name="deal_create"),
    path("deals/deleted/", views.deleted_deals, name="deleted_deals"),
    path("deals/<uuid:deal_uuid>/", views.deal_detail, name="deal_detail"),
    path("deals/<uuid:deal_uuid>/edit/", views.deal_edit, name="deal_edit"),
    path("deals/<uuid:deal_uuid>/move/", views_board.deal_move, name="deal_move"),
    path("deals/<uuid:deal_uuid>/move/undo/", views_board.deal_move_undo, name="deal_move_undo"),
    path("views/", views_saved.saved_view_create, name="saved_view_create"),
    path("views/<uuid:view_uuid>/delete/", views_saved.saved_view_delete, name="saved_view_delete"),
    path("deals/<uuid:deal_uuid>/delete/", views.deal_delete, name="deal_delete"),
    path("deals/<uuid:deal_uuid>/restore/", views.deal_restore, name="deal_restore"),
    path("deals/<uuid:deal_uuid>/activities/", views.activity_create, name="activity_create"),
    path("companies/", views_records.company_list, name="company_list"),
    path("companies/new/", views_records.company_form, name="company_create"),
    path("companies/<uuid:company_uuid>/", views_records.company_detail, name="company_detail"),
    path("companies/<uuid:company_uuid>/edit/", views_records.company_form, name="company_edit"),
    path("companies/<uuid:company_uuid>/delete/", views_records.company_delete, name="company_delete"),
    path("contacts/", views_records.contact_list, name="contact_list"),
    path("contacts/new/", views_records.contact_form, name="contact_create"),
    path("contacts/<uuid:contact_uuid>/", views_records.contact_detail, name="contact_detail"),
    path("contacts/<uuid:contact_uuid>/edit/", views_records.contact_form, name="contact_edit"),
    path("contacts/<uuid:contact_uuid>/delete/", views_records.contact_delete, name="contact_delete"),
    path("welcome/", views_setup.onboarding, name="onboarding"),
    path("welcome/sample-data/", views_setup.onboarding_sample, name="onboarding_sample"),
    path("setup/pipelines/", views_setup.pipelines, name="setup_pipelines"),
    path("setup/pipelines/<uuid:pipeline_uuid>/stages/", views_setup.stage_save, name="setup_stage_save"),
    path("setup/stages/<uuid:stage_uuid>/", views_setup.stage_change, name="setup_stage_change"),
    path("setup/fields/", views_setup.custom_fields, name="setup_fields"),
    path("setup/fields/<uuid:field_uuid>/delete/", views_setup.custom_field_delete, name="setup_field_delete"),
    path("forecast-categories/", views_categories.forecast_categories, name="forecast_categories"),
]
