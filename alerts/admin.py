from __future__ import annotations

from django.contrib import admin

from alerts.models import Alert, AlertSettings, Delivery, MonitorRun, NotificationPreference, WebhookEndpoint


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["kind", "priority", "status", "deal", "workspace", "first_seen_at", "resolved_at"]
    list_filter = ["kind", "priority", "status"]
    raw_id_fields = ["deal", "acknowledged_by", "dismissed_by"]


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["idempotency_key", "channel", "status", "attempts", "next_attempt_at", "sent_at"]
    list_filter = ["channel", "status"]
    raw_id_fields = ["alert", "endpoint", "membership"]


admin.site.register(AlertSettings)
admin.site.register(NotificationPreference)
admin.site.register(WebhookEndpoint)
admin.site.register(MonitorRun)
