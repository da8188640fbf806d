from __future__ import annotations

from django.urls import path, register_converter

from collab import views


class RecordKindConverter:
    regex = "deals|companies"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(RecordKindConverter, "record")

app_name = "collab"
urlpatterns = [
    path("my-day/", views.my_day, name="my_day"),
    path("<record:kind>/<uuid:record_uuid>/", views.panel, name="panel"),
    path("<record:kind>/<uuid:record_uuid>/comments/", views.comment_create, name="comment_create"),
    path("<record:kind>/<uuid:record_uuid>/mentions/", views.mention_suggest, name="mention_suggest"),
    path("mentions/pick/", views.mention_pick, name="mention_pick"),
    path("comments/<uuid:comment_uuid>/edit/", views.comment_edit, name="comment_edit"),
    path("comments/<uuid:comment_uuid>/delete/", views.comment_delete, name="comment_delete"),
    path("deals/<uuid:deal_uuid>/tasks/", views.task_create, name="task_create"),
    path("deals/<uuid:deal_uuid>/next-step/", views.next_step_save, name="next_step"),
    path("tasks/<uuid:task_uuid>/done/", views.task_done, name="task_done"),
    path("tasks/<uuid:task_uuid>/delete/", views.task_delete, name="task_delete"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/bell/", views.bell, name="bell"),
    path("notifications/read/", views.notifications_read, name="notifications_read"),
    path("notifications/settings/", views.notification_settings, name="notification_settings"),
    path("notifications/<uuid:notification_uuid>/", views.notification_open, name="notification_open"),
    path("push/subscribe/", views.push_subscribe, name="push_subscribe"),
    path("push/unsubscribe/", views.push_unsubscribe, name="push_unsubscribe"),
]
