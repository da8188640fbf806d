"""Django admin for staff: every CRM model, searchable and filterable. Not the product's UI."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from crm.models import Activity, Company, Contact, Deal, DealHistory, Pipeline, Stage


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin):
    list_display = ["name", "workspace", "domain", "industry", "employees", "owner", "created_at"]
    list_filter = ["workspace", "industry"]
    search_fields = ["name", "domain", "external_id"]
    raw_id_fields = ["parent", "owner"]
    readonly_fields = ["uuid"]


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["last_name", "first_name", "workspace", "email", "title", "company"]
    list_filter = ["workspace"]
    search_fields = ["first_name", "last_name", "email", "company__name"]
    raw_id_fields = ["company"]
    readonly_fields = ["uuid"]


class StageInline(admin.TabularInline):
    model = Stage
    extra = 0
    fields = ["order", "name", "default_probability", "kind"]
    readonly_fields = ["workspace"]


@admin.register(Pipeline)
class PipelineAdmin(admin.ModelAdmin):
    list_display = ["name", "workspace", "is_default"]
    list_filter = ["workspace", "is_default"]
    search_fields = ["name"]
    inlines = [StageInline]
    readonly_fields = ["uuid"]


@admin.register(Stage)
class StageAdmin(admin.ModelAdmin):
    list_display = ["name", "pipeline", "workspace", "order", "default_probability", "kind"]
    list_filter = ["workspace", "kind"]
    search_fields = ["name", "pipeline__name"]
    readonly_fields = ["uuid"]


class DealHistoryInline(admin.TabularInline):
    model = DealHistory
    extra = 0
    can_delete = False
    readonly_fields = ("changed_at", "field", "old_value", "new_value", "changed_by", "source")
    fields = readonly_fields

    def has_add_permission(self, request, obj=None) -> bool:  # append only, written by crm.services
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Look, never write: these rows change through crm.services, which keep history and fire deals_changed."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Deal)
class DealAdmin(ReadOnlyAdmin):
    """Read only, deleted deals included: a deal changes through crm.services (history, change handlers),
    and is deleted or restored on the product's pages."""

    list_display = [
        "title",
        "workspace",
        "company",
        "owner",
        "stage",
        "amount",
        "currency",
        "expected_close_date",
        "outcome",
    ]
    list_filter = ["workspace", "outcome", "stage__kind", "source", "deleted_at"]
    search_fields = ["title", "company__name", "external_id", "uuid"]
    raw_id_fields = ["company", "owner", "contacts"]
    date_hierarchy = "created_at"
    readonly_fields = ["uuid", "updated_at"]
    list_select_related = ["workspace", "company", "owner", "stage"]
    inlines = [DealHistoryInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Deal]:
        return Deal.all_objects.select_related(*self.list_select_related)


@admin.register(DealHistory)
class DealHistoryAdmin(ReadOnlyAdmin):
    """Read only: history is append-only and written by crm.services."""

    list_display = ["deal", "field", "old_value", "new_value", "changed_at", "changed_by", "source"]
    list_filter = ["field", "source", "workspace"]
    search_fields = ["deal__title"]
    date_hierarchy = "changed_at"
    list_select_related = ["deal", "changed_by"]


@admin.register(Activity)
class ActivityAdmin(ReadOnlyAdmin):
    list_display = ["subject", "kind", "direction", "occurred_at", "workspace", "deal", "owner"]
    list_filter = ["workspace", "kind", "direction"]
    search_fields = ["subject", "body", "deal__title"]
    raw_id_fields = ["deal", "company", "contacts", "owner"]
    date_hierarchy = "occurred_at"
    readonly_fields = ["uuid"]
