"""Django admin for staff: workspaces, members, teams, invitations, API keys, pending jobs."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest
from django_q.admin import ScheduleAdmin
from django_q.models import Schedule

from tenancy.management.commands.sync_schedules import declared_schedules
from tenancy.models import ApiKey, Invitation, Membership, PendingJob, Team, Workspace


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["display_name", "email", "user", "role", "team", "is_active"]
    raw_id_fields = ["user", "team"]


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "currency", "fiscal_year_start_month", "time_zone", "is_demo", "created_at"]
    list_filter = ["is_demo", "currency"]
    search_fields = ["name", "slug"]
    readonly_fields = ["uuid"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["display_name", "email", "workspace", "role", "team", "is_active", "user"]
    list_filter = ["role", "is_active", "workspace"]
    search_fields = ["display_name", "email", "user__email"]
    raw_id_fields = ["user", "team"]
    readonly_fields = ["uuid"]
    list_select_related = ["workspace", "team", "user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "workspace", "manager", "parent"]
    list_filter = ["workspace"]
    search_fields = ["name"]
    raw_id_fields = ["manager", "parent"]
    readonly_fields = ["uuid"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "workspace", "role", "team", "created_at", "expires_at", "accepted_at"]
    list_filter = ["role", "workspace"]
    search_fields = ["email"]
    readonly_fields = ["uuid", "token_hash"]
    raw_id_fields = ["team", "invited_by"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Only the hash is stored; a key cannot be read back here. Keys are made on the API keys page or by
    `create_api_key` (the raw key is shown once there); here a key can only be revoked, never widened."""

    list_display = ["name", "workspace", "scope", "workspace_wide", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["workspace", "scope"]
    search_fields = ["name", "prefix"]
    readonly_fields = [
        "uuid",
        "workspace",
        "name",
        "prefix",
        "key_hash",
        "created_by",
        "created_at",
        "last_used_at",
        "scope",
        "expires_at",
        "workspace_wide",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(PendingJob)
class PendingJobAdmin(admin.ModelAdmin):
    """Read-only: a job's function is chosen by code (tenancy.jobs), never typed in by staff."""

    list_display = ["key", "func", "created_at"]
    search_fields = ["key", "func"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


def known_task_functions() -> list[str]:
    """The functions a schedule may run: the declared schedules' and the deal-change handlers."""
    return sorted({str(item["func"]) for item in declared_schedules()} | set(settings.DEAL_CHANGE_HANDLERS))


class ScheduleForm(forms.ModelForm):
    func = forms.ChoiceField(
        choices=lambda: [(path, path) for path in known_task_functions()],
        help_text="One of the application's own tasks; arbitrary import paths are not accepted.",
    )

    class Meta:
        model = Schedule
        fields = "__all__"  # noqa: DJ007 (django-q2's own admin shows every field; only func changes here)


if admin.site.is_registered(Schedule):
    admin.site.unregister(Schedule)


@admin.register(Schedule)
class KnownTaskScheduleAdmin(ScheduleAdmin):
    """django-q2's schedule admin, but the function is a choice of known tasks and the hook is read-only."""

    form = ScheduleForm
    readonly_fields = ("hook",)
