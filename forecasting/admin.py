"""Django admin for staff: forecast runs (read-only: they are a record), targets, backtests. Not the product's UI."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from forecasting.models import BacktestResult, DealForecast, ForecastRun, Target


class DealForecastInline(admin.TabularInline):
    model = DealForecast
    extra = 0
    raw_id_fields = ["deal"]
    readonly_fields = ["deal", "probability", "expected", "confidence"]
    can_delete = False
    max_num = 0  # a run's parts are what the simulation said; nobody edits them


@admin.register(ForecastRun)
class ForecastRunAdmin(admin.ModelAdmin):
    list_display = ["workspace", "period_start", "period_end", "as_of", "trigger", "mean", "duration_ms", "created_at"]
    list_filter = ["workspace", "trigger"]
    date_hierarchy = "created_at"
    inlines = [DealForecastInline]

    def get_readonly_fields(self, request: HttpRequest, obj: ForecastRun | None = None) -> list[str]:
        return [f.name for f in ForecastRun._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Target)
class TargetAdmin(admin.ModelAdmin):
    list_display = ["workspace", "period_start", "period_end", "team", "owner", "amount", "updated_at"]
    list_filter = ["workspace"]
    raw_id_fields = ["team", "owner"]
    readonly_fields = ["uuid"]


@admin.register(BacktestResult)
class BacktestResultAdmin(admin.ModelAdmin):
    list_display = ["workspace", "as_of", "period_start", "period_end", "actual", "abs_pct_error", "in_p10_p90"]
    list_filter = ["workspace", "in_p10_p90"]
    readonly_fields = ["uuid", "created_at"]
