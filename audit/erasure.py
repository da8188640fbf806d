"""Erasure of one person from a workspace: `person_erase` removes their contact rows and redacts their name and
email wherever text or JSON holds them — activities, deal titles and descriptions, deal history, import reports,
digests and other deliveries, alerts, scores, the audit log's own before/after values and its request contexts,
django-q task results, upload files and saved scoring models — then re-embeds the deals whose text changed.

The sweep is generic on purpose: every table with a `workspace` column is searched (text, char and JSON columns),
so a table added later is covered without an edit here. Only the erasure itself is recorded, with counts.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.utils import timezone
from django_q.models import Task
from pghistory.models import Context

from audit.models import EVENT_MODELS, ContactEvent
from audit.services import audit_record
from crm.models import Activity, Contact, Deal, ImportJob, ImportStatus
from crm.services import contact_delete, deals_changed
from scoring.models import ScoringModel
from similarity.services import deal_embeddings_refresh
from tenancy.models import Workspace

REDACTED = "[erased]"
TEXT_FIELDS = (models.CharField, models.TextField, models.JSONField)  # EmailField and URLField are CharFields


@dataclass
class ErasureReport:
    contacts: int = 0
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows redacted
    audit_rows: int = 0
    contexts: int = 0
    task_results: int = 0
    sessions: int = 0
    upload_folders: int = 0
    model_files: int = 0
    deals_reembedded: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "contacts_deleted": self.contacts,
            "rows_redacted": dict(sorted(self.rows.items())),
            "audit_rows_redacted": self.audit_rows,
            "contexts_redacted": self.contexts,
            "task_results_deleted": self.task_results,
            "session_messages_dropped": self.sessions,
            "upload_folders_removed": self.upload_folders,
            "model_files_redacted": self.model_files,
            "deals_reembedded": self.deals_reembedded,
        }


def person_pattern(*, emails: list[str], names: list[tuple[str, str]]) -> str:
    """One case-insensitive regular expression (valid in Python and PostgreSQL) for every form of the person."""
    parts = {re.escape(e.strip()) for e in emails if e.strip()}
    for first, last in names:
        first, last = first.strip(), last.strip()
        if first and last:
            parts.add(re.escape(first) + r"\s+" + re.escape(last))
            parts.add(re.escape(last) + r",\s*" + re.escape(first))
        elif len(first or last) >= 3:
            parts.add(re.escape(first or last))
    if not parts:
        raise ValidationError("Nothing to erase: no email and no name.")
    return "(" + "|".join(sorted(parts, key=len, reverse=True)) + ")"


def _text_columns(model: type[models.Model]) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields if isinstance(f, TEXT_FIELDS) and not f.primary_key]


def _redact_table(model: type[models.Model], pattern: str, *, where: str, params: list[Any]) -> list[int]:
    """Redact the person in every text column of the matching rows; returns the ids of the rows changed."""
    columns = _text_columns(model)
    if not columns:
        return []
    sets, matches = [], []
    for f in columns:
        column = connection.ops.quote_name(str(f.column))
        if isinstance(f, models.JSONField):
            value = f"regexp_replace({column}::text, %s, %s, 'gi')::jsonb"
        else:
            value = f"regexp_replace({column}, %s, %s, 'gi')"
            if getattr(f, "max_length", None):
                value = f"left({value}, {int(f.max_length)})"  # type: ignore[arg-type]  # not None: checked above
        sets.append((f"{column} = {value}", [pattern, REDACTED]))
        matches.append((f"{column}::text ~* %s", [pattern]))
    table = connection.ops.quote_name(model._meta.db_table)
    pk = connection.ops.quote_name(str(model._meta.pk.column))  # type: ignore[union-attr]  # every table has one
    sql = (
        f"UPDATE {table} SET {', '.join(s for s, _ in sets)} "
        f"WHERE ({where}) AND ({' OR '.join(m for m, _ in matches)}) RETURNING {pk}"
    )
    values = [v for _, p in sets for v in p] + params + [v for _, p in matches for v in p]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        return [row[0] for row in cursor.fetchall()]


def _workspace_models() -> list[type[models.Model]]:
    """Every model with a `workspace` column (the audit tables last: the sweep itself writes audit rows)."""
    found = []
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        try:
            ws_field = model._meta.get_field("workspace")
        except Exception:  # noqa: S112 (a model without the field is simply not a tenant table)
            continue
        if getattr(ws_field, "related_model", None) is Workspace and model not in EVENT_MODELS:
            found.append(model)
    return found


def _redact_tasks(regex: re.Pattern[str]) -> int:
    """django-q keeps task arguments and results pickled; those that mention the person go."""
    doomed = [
        task.pk for task in Task.objects.all().iterator() if regex.search(repr((task.args, task.kwargs, task.result)))
    ]
    Task.objects.filter(pk__in=doomed).delete()
    return len(doomed)


def _redact_sessions(regex: re.Pattern[str]) -> int:
    """Flash messages kept in sessions ("Jane Doe saved.") that mention the person are dropped."""
    if settings.SESSION_ENGINE != "django.contrib.sessions.backends.db":
        return 0  # cached_db keeps the same rows; other engines keep no table here
    changed = 0
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        data = session.get_decoded()
        if "_messages" in data and regex.search(str(data["_messages"])):
            del data["_messages"]
            Session.objects.filter(pk=session.pk).update(session_data=SessionStore().encode(data))
            changed += 1
    return changed


def _files_mentioning(folder: Path, regex: re.Pattern[str]) -> bool:
    for path in folder.rglob("*") if folder.is_dir() else [folder]:
        if path.is_file() and regex.search(path.read_bytes().decode("utf-8", errors="replace")):
            return True
    return False


def _redact_uploads(workspace: Workspace, regex: re.Pattern[str]) -> int:
    """Uploads still on disk (imports not started or not finished) that hold the person are removed."""
    from crm.importers.jobs import import_job_folder

    removed = 0
    for job in ImportJob.objects.filter(workspace=workspace).select_related("workspace"):
        folder = import_job_folder(job)
        if folder.exists() and _files_mentioning(folder, regex):
            shutil.rmtree(folder, ignore_errors=True)
            ImportJob.objects.filter(pk=job.pk, status=ImportStatus.UPLOADED).update(status=ImportStatus.FAILED)
            removed += 1
    return removed


def _redact_model_files(workspace: Workspace, regex: re.Pattern[str]) -> int:
    """Saved scoring models are JSON (category values, feature names): the person is redacted in place."""
    redacted = 0
    for model in ScoringModel.objects.filter(workspace=workspace).exclude(artifact_path=""):
        path = Path(model.artifact_path)
        if not path.is_absolute():
            path = Path(settings.MODELS_DIR) / path
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            cleaned = regex.sub(REDACTED, text)
            if cleaned != text:
                path.write_text(cleaned, encoding="utf-8")
                redacted += 1
    return redacted


def person_erase(
    *, workspace: Workspace, email: str = "", contact: Contact | None = None, actor: str, reembed_now: bool = True
) -> ErasureReport:
    """Erase the person with this email (every contact of the workspace with it), or this contact.

    The deals whose text changed are re-embedded here with `reembed_now` (the command), else by the worker's
    deal-change job (the page: no model loading inside a request).
    """
    email = email.strip()
    contacts = list(Contact.objects.for_workspace(workspace).filter(email__iexact=email)) if email else []
    if contact is not None and contact.pk not in {c.pk for c in contacts}:
        contacts.append(contact)
    if not email and not contacts:
        raise ValidationError("Give the email of the person to erase.")
    pattern = person_pattern(
        emails=[email, *(c.email for c in contacts)], names=[(c.first_name, c.last_name) for c in contacts]
    )
    regex = re.compile(pattern, re.IGNORECASE)
    report = ErasureReport(contacts=len(contacts))
    contact_ids = [c.pk for c in contacts]
    with transaction.atomic():
        deal_ids = set(Deal.all_objects.filter(contacts__in=contact_ids).values_list("id", flat=True))
        for c in contacts:
            contact_delete(contact=c)
        ws = [workspace.pk]
        for model in _workspace_models():
            ids = _redact_table(model, pattern, where="workspace_id = %s", params=ws)
            if ids:
                report.rows[model._meta.label] = len(ids)
            if model is Deal:
                deal_ids.update(ids)
            elif model is Activity and ids:
                deal_ids.update(
                    Activity.objects.filter(pk__in=ids, deal__isnull=False).values_list("deal_id", flat=True)
                )
        # The audit log's own before/after values: the contact's events lose every personal field.
        if contact_ids:
            report.audit_rows += ContactEvent._default_manager.filter(pgh_obj_id__in=contact_ids).update(
                first_name=REDACTED, last_name=REDACTED, email="", phone="", title=""
            )
        for event_model in EVENT_MODELS:
            if any(f.name == "workspace" for f in event_model._meta.concrete_fields):
                where, params = "workspace_id = %s", ws
            else:  # the workspace's own events
                where, params = "pgh_obj_id = %s", ws
            report.audit_rows += len(_redact_table(event_model, pattern, where=where, params=params))
        report.contexts = len(_redact_table(Context, pattern, where="TRUE", params=[]))
        report.task_results = _redact_tasks(regex)
        report.sessions = _redact_sessions(regex)
        if deal_ids:  # after commit, every deal handler (embeddings, scores, forecast) sees the new texts
            deals_changed(workspace_id=workspace.pk, deal_ids=sorted(deal_ids))
    report.upload_folders = _redact_uploads(workspace, regex)
    report.model_files = _redact_model_files(workspace, regex)
    if deal_ids and reembed_now:
        refreshed = deal_embeddings_refresh(workspace_id=workspace.pk, deal_ids=sorted(deal_ids))
        report.deals_reembedded = refreshed.embedded
    audit_record(
        workspace=workspace,
        action="erasure",
        actor=actor,
        object_model="crm.Contact" if contacts else "",
        details=report.as_dict(),
    )
    return report
