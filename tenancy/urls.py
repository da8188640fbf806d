from __future__ import annotations

from django.urls import path

from tenancy import views, views_sso

app_name = "tenancy"
urlpatterns = [
    path("", views.workspace_settings, name="workspace_settings"),
    path("members/", views.member_list, name="members"),
    path("members/<uuid:membership_uuid>/", views.member_update, name="member_update"),
    path("members/<uuid:membership_uuid>/remove/", views.member_remove, name="member_remove"),
    path("teams/", views.team_list, name="teams"),
    path("teams/<uuid:team_uuid>/", views.team_edit, name="team_edit"),
    path("invitations/", views.invitation_list, name="invitations"),
    path("invitations/<uuid:invitation_uuid>/revoke/", views.invitation_revoke, name="invitation_revoke"),
    path("sso/", views_sso.sso_settings, name="sso"),
    path("sso/remove/", views_sso.sso_delete, name="sso_delete"),
]
