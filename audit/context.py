"""Who made a change: the request's user or API key, or the management command, attached to every write.

pghistory keeps one context per request or command (a row in `pghistory_context`) and the triggers link each
event to it; `actor` is the label the audit log shows.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

import pghistory
from django.core.handlers.wsgi import WSGIRequest
from django.core.management.base import BaseCommand
from django.db import connection
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django_q.signals import post_execute_in_worker, pre_execute
from pghistory import runtime as pghistory_runtime
from pghistory.middleware import HistoryMiddleware

from audit import services

# Commands that serve or wait for ever (a context is one per command run) or never write tenant data.
UNTRACKED_COMMANDS = {"runserver", "run", "qcluster", "qmonitor", "qinfo", "shell", "dbshell", "test", "check"}
# CSV downloads: reads, so no trigger sees them; recorded as explicit audit events.
EXPORTS = {
    "export_deals": "crm.Deal",
    "export_companies": "crm.Company",
    "export_contacts": "crm.Contact",
    "export_activities": "crm.Activity",
}


def user_actor(user: Any) -> str:
    return str(getattr(user, "email", "") or getattr(user, "username", "") or f"user {user.pk}")


def api_key_actor(key: Any) -> str:
    return f"API key {key.name} ({key.prefix}…)"


def command_actor(name: str) -> str:
    return f"command {name}"


def _user_context(user: Any) -> dict[str, Any]:
    if user is None or not getattr(user, "is_authenticated", False):
        return {"user": None}
    return {"user": user.pk, "actor": user_actor(user)}


class _TrackedRequest(WSGIRequest):
    """Keeps the context in step when sign-in sets `request.user` or the API's bearer auth sets `request.auth`."""

    def __setattr__(self, attr: str, value: Any) -> None:
        if attr == "user":
            pghistory.context(**_user_context(value))
        elif attr == "auth" and value is not None and hasattr(value, "key_hash"):
            pghistory.context(api_key=value.pk, actor=api_key_actor(value))
        super().__setattr__(attr, value)


class AuditMiddleware(HistoryMiddleware):
    def get_context(self, request: HttpRequest) -> dict[str, Any]:
        return {**_user_context(getattr(request, "user", None)), "url": request.path}

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        # Every method: a GET may write too (a settings row made on first view). Reads pay nothing; the context
        # row is written only when a trigger fires.
        if isinstance(request, WSGIRequest):
            with pghistory.context(**self.get_context(request)):
                request.__class__ = _TrackedRequest
                response = self.get_response(request)
        else:
            response = self.get_response(request)
        _record_export(request, response)
        return response


def _record_export(request: HttpRequest, response: HttpResponseBase) -> None:
    match = request.resolver_match
    workspace = getattr(request, "workspace", None)
    if match is None or match.namespace != "crm_data" or match.url_name not in EXPORTS:
        return
    if workspace is None or response.status_code != 200:
        return
    services.audit_record(
        workspace=workspace,
        action="export",
        actor=user_actor(request.user),
        object_model=EXPORTS[match.url_name],
        # The filter names only: a search box's text could be a person's name.
        details={"download": match.url_name.removeprefix("export_") + ".csv", "filters": sorted(request.GET.keys())},
    )


_task_context = threading.local()


def _task_started(sender: Any, func: Any, task: dict[str, Any], **kwargs: Any) -> None:
    _task_finished(sender, func, task)
    if hasattr(pghistory_runtime._tracker, "value"):  # run in-process (Q_CLUSTER sync): the caller's context stays
        return
    name = task["func"] if isinstance(task.get("func"), str) else f"{func.__module__}.{func.__qualname__}"
    context = pghistory.context(task=str(task.get("name", "")), actor=f"task {name}")
    context.__enter__()
    _task_context.value = context


def _task_finished(sender: Any, func: Any, task: dict[str, Any], **kwargs: Any) -> None:
    context = getattr(_task_context, "value", None)
    if context is not None:
        del _task_context.value
        context.__exit__(None, None, None)


def track_background_tasks() -> None:
    """django-q2 tasks run in the worker with `actor: task FUNC` (one context per task, not per worker)."""
    pre_execute.connect(_task_started, dispatch_uid="audit.task_started")
    post_execute_in_worker.connect(_task_finished, dispatch_uid="audit.task_finished")


def track_management_commands() -> None:
    """Every management command's writes carry `actor: command NAME` (patched once, at app start)."""
    if getattr(BaseCommand.execute, "_audit_tracked", False):
        return
    original: Callable[..., Any] = BaseCommand.execute

    @functools.wraps(original)
    def execute(self: BaseCommand, *args: Any, **options: Any) -> Any:
        name = self.__class__.__module__.rsplit(".", 1)[-1]
        if name in UNTRACKED_COMMANDS or connection.vendor != "postgresql":
            return original(self, *args, **options)
        with pghistory.context(command=name, actor=command_actor(name)):
            return original(self, *args, **options)

    execute._audit_tracked = True  # type: ignore[attr-defined]  # marks the patch so a second ready() skips it
    BaseCommand.execute = execute  # type: ignore[method-assign]  # the one place every command passes through
