"""The audit log: one event table per tracked model, filled by PostgreSQL triggers (django-pghistory).

The triggers fire on every INSERT, UPDATE and DELETE, COPY included, once per statement over its transition
table, so changes made by the web, the API, the admin, imports and bulk writers are all recorded, with the
request's, command's or task's context (who) attached by `audit.context`. The tracked models keep their own
migrations: the triggers are installed after every `migrate` (PGTRIGGER_MIGRATIONS off, INSTALL_ON_MIGRATE on).

Secrets never reach an event row: their columns are not copied (`SECRET_FIELDS`); a change of one is recorded
as a `secret.changed` event without its value.
"""

from __future__ import annotations

import uuid
from typing import Any

import pghistory
import pgtrigger
from django.db import models
from django.utils import timezone

from alerts.models import AlertSettings, WebhookEndpoint
from collab.models import Comment, Task
from crm.models import Activity, Company, Contact, CustomField, Deal, Pipeline, Stage
from forecasting.models import Target
from tenancy.models import ApiKey, Invitation, Membership, SSODomain, Team, Workspace, WorkspaceSSO

# Columns never copied into the log. Fields named here that a model does not have (yet) are ignored.
SECRET_FIELDS: dict[type[models.Model], list[str]] = {
    ApiKey: ["key_hash"],
    Invitation: ["token_hash"],
    AlertSettings: ["slack_webhook_url"],
    WebhookEndpoint: ["secret"],
    WorkspaceSSO: ["client_secret"],
}
# Columns that change on their own (a key's use, `auto_now`): copying them would log an event per use.
NOISE_FIELDS: dict[type[models.Model], list[str]] = {
    ApiKey: ["last_used_at"],
    Deal: ["updated_at"],
    Target: ["updated_at"],
    WorkspaceSSO: ["updated_at"],
}


def _tracked(model: type[models.Model], name: str) -> type[models.Model]:
    excluded = SECRET_FIELDS.get(model, []) + NOISE_FIELDS.get(model, [])
    trackers: list[Any] = [pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent()]
    if model in SECRET_FIELDS:
        # The value stays out of the log; that it changed does not.
        trackers.append(
            pghistory.UpdateEvent(
                "secret.changed", condition=pgtrigger.AnyChange(*SECRET_FIELDS[model]), trigger_name="secret_changed"
            )
        )
    # The log is read per workspace, newest first (the Workspace's own events by their object).
    by_time = ["workspace", "-pgh_created_at"] if model is not Workspace else ["pgh_obj", "-pgh_created_at"]
    return pghistory.create_event_model(
        model,
        *trackers,
        exclude=excluded,
        obj_field=pghistory.ObjForeignKey(related_name="+", related_query_name="+"),
        app_label="audit",
        model_name=name,
        abstract=False,
        # One trigger call per statement (transition tables), not per row: an import's COPY of thousands of rows
        # attaches the context once.
        level=pghistory.Statement,
        meta={"indexes": [models.Index(fields=by_time, name=f"audit_{name.lower()[:-5]}_by_time")]},
    )


WorkspaceEvent = _tracked(Workspace, "WorkspaceEvent")
MembershipEvent = _tracked(Membership, "MembershipEvent")
TeamEvent = _tracked(Team, "TeamEvent")
InvitationEvent = _tracked(Invitation, "InvitationEvent")
ApiKeyEvent = _tracked(ApiKey, "ApiKeyEvent")
WorkspaceSSOEvent = _tracked(WorkspaceSSO, "WorkspaceSSOEvent")
SSODomainEvent = _tracked(SSODomain, "SSODomainEvent")
AlertSettingsEvent = _tracked(AlertSettings, "AlertSettingsEvent")
WebhookEndpointEvent = _tracked(WebhookEndpoint, "WebhookEndpointEvent")
TargetEvent = _tracked(Target, "TargetEvent")
PipelineEvent = _tracked(Pipeline, "PipelineEvent")
StageEvent = _tracked(Stage, "StageEvent")
CompanyEvent = _tracked(Company, "CompanyEvent")
ContactEvent = _tracked(Contact, "ContactEvent")
DealEvent = _tracked(Deal, "DealEvent")
ActivityEvent = _tracked(Activity, "ActivityEvent")
CustomFieldEvent = _tracked(CustomField, "CustomFieldEvent")
CommentEvent = _tracked(Comment, "CommentEvent")
TaskEvent = _tracked(Task, "TaskEvent")

# DealHistory is not tracked: it is itself the append-only record of every deal change (see the README's
# measurement of an import with and without it).
EVENT_MODELS: list[type[models.Model]] = [
    WorkspaceEvent,
    MembershipEvent,
    TeamEvent,
    InvitationEvent,
    ApiKeyEvent,
    WorkspaceSSOEvent,
    SSODomainEvent,
    AlertSettingsEvent,
    WebhookEndpointEvent,
    TargetEvent,
    PipelineEvent,
    StageEvent,
    CompanyEvent,
    ContactEvent,
    DealEvent,
    ActivityEvent,
    CustomFieldEvent,
    CommentEvent,
    TaskEvent,
]


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def for_workspace(self, workspace: Workspace) -> AuditEventQuerySet:
        return self.filter(workspace=workspace)


class AuditEvent(models.Model):
    """Something worth recording that is not a row change: an export (a read), an erasure (whose data is gone).

    `details` never holds personal data or secrets: counts, filters, file names of our own.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    action = models.CharField(max_length=40)  # "export", "erasure"
    actor = models.CharField(max_length=200)  # "owner@acme.test", "API key ci (vos_ab12…)", "command erase_person"
    object_model = models.CharField(max_length=64, blank=True)  # "crm.Deal" for a deal export
    object_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["workspace", "-at"])]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor} at {self.at:%Y-%m-%d %H:%M}"
