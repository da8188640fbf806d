"""Screens of the collab app: the comments, tasks and next-step panel of a deal or company, the bell and the
notifications page, notification settings and push subscriptions, and the rep's day."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from collab import push, selectors, services
from collab.forms import CommentForm, NextStepForm, NotificationSettingsForm, TaskForm
from collab.models import Comment, Notification, Task
from crm.models import Company, Deal
from tenancy.access import get_in_workspace, parse_uuid
from tenancy.models import Membership
from vectoros.forms import apply_service_errors
from vectoros.http import WorkspaceRequest, render_screen, workspace_view

PANEL = "collab/panel.html"


# ---- the panel on a deal or a company --------------------------------------------------------------------------


def _record_url(request: WorkspaceRequest, deal: Deal | None, company: Company | None) -> str:
    if deal is not None:
        return reverse("crm:deal_detail", args=[request.workspace.slug, deal.uuid])
    assert company is not None
    return reverse("crm:company_detail", args=[request.workspace.slug, company.uuid])


def _panel(
    request: WorkspaceRequest,
    *,
    deal: Deal | None = None,
    company: Company | None = None,
    comment_form: CommentForm | None = None,
    task_form: TaskForm | None = None,
    next_step_form: NextStepForm | None = None,
    status: int = 200,
) -> HttpResponse:
    slug = request.workspace.slug
    kind, record = ("deals", deal) if deal is not None else ("companies", company)
    assert record is not None
    context: dict[str, Any] = {
        "deal": deal,
        "company": company,
        "record_kind": kind,
        "record": record,
        "can_write": request.membership.can_write,
        "comments": selectors.comments_for(request.scope, deal=deal, company=company),
        "comment_form": comment_form or CommentForm(),
        "comment_url": reverse("collab:comment_create", args=[slug, kind, record.uuid]),
        "mentions_url": reverse("collab:mention_suggest", args=[slug, kind, record.uuid]),
        "panel_url": reverse("collab:panel", args=[slug, kind, record.uuid]),
    }
    if deal is not None:
        assignees = services.mentionable_members(workspace=request.workspace, deal=deal, limit=100)
        context |= {
            "tasks": selectors.tasks_for_deal(request.scope, deal),
            "today": request.workspace.today(),
            "task_form": task_form or TaskForm(assignees=assignees),
            "next_step_form": next_step_form or NextStepForm(initial={"next_step": deal.next_step}),
        }
    return render_screen(request, PANEL, context, partial="panel", status=status)


def _record(request: WorkspaceRequest, kind: str, record_uuid: str) -> tuple[Deal | None, Company | None]:
    if kind == "deals":
        return request.scope.get(Deal, record_uuid), None
    return None, request.scope.get(Company, record_uuid)


def _after_write(request: WorkspaceRequest, deal: Deal | None, company: Company | None, **forms: Any) -> HttpResponse:
    """Under HTMX the refreshed panel; otherwise back to the record's page."""
    if request.htmx or forms:
        status = 422 if forms and not request.htmx else 200  # htmx swaps only 2xx answers
        return _panel(request, deal=deal, company=company, status=status, **forms)
    return redirect(_record_url(request, deal, company))


@require_GET
@workspace_view()
def panel(request: WorkspaceRequest, kind: str, record_uuid: str) -> HttpResponse:
    deal, company = _record(request, kind, record_uuid)
    return _panel(request, deal=deal, company=company)


@require_POST
@workspace_view(write=True)
def comment_create(request: WorkspaceRequest, kind: str, record_uuid: str) -> HttpResponse:
    deal, company = _record(request, kind, record_uuid)
    form = CommentForm(request.POST)
    if form.is_valid():
        try:
            services.comment_create(
                author=request.membership,
                body=form.cleaned_data["body"],
                deal=deal,
                company=company,
                mention_uuids=request.POST.getlist("mentions"),
            )
            return _after_write(request, deal, company)
        except ValidationError as exc:
            apply_service_errors(form, exc)
    return _after_write(request, deal, company, comment_form=form)


@require_GET
@workspace_view()
def mention_suggest(request: WorkspaceRequest, kind: str, record_uuid: str) -> HttpResponse:
    """Members who can see the record and whose name matches `q`, as buttons that add them to the comment."""
    deal, company = _record(request, kind, record_uuid)
    query = request.GET.get("q", "")[:100].lstrip("@")
    members = (
        services.mentionable_members(workspace=request.workspace, deal=deal, company=company, query=query)
        if query
        else []
    )
    members = [m for m in members if m.id != request.membership.id]
    context = {"members": members, "query": query, "kind": kind, "record_uuid": record_uuid}
    return render(request, "collab/_mention_suggestions.html", context)


@require_GET
@workspace_view()
def mention_pick(request: WorkspaceRequest) -> HttpResponse:
    """One picked member as a ticked checkbox inside the comment form (visibility is checked again on save)."""
    member = get_in_workspace(Membership, request.workspace, request.GET.get("member"))
    return render(request, "collab/_mention_chip.html", {"member": member})


@require_http_methods(["GET", "POST"])
@workspace_view(write=True)
def comment_edit(request: WorkspaceRequest, comment_uuid: str) -> HttpResponse:
    comment = request.scope.get(Comment, comment_uuid)
    if comment.author_id != request.membership.id:
        raise PermissionDenied("You can edit only your own comments.")
    form = CommentForm(request.POST if request.method == "POST" else None, initial={"body": comment.body})
    if request.method == "POST" and form.is_valid():
        try:
            services.comment_update(
                comment=comment,
                actor=request.membership,
                body=form.cleaned_data["body"],
                mention_uuids=request.POST.getlist("mentions"),
            )
            return _after_write(request, comment.deal, comment.company)
        except ValidationError as exc:
            apply_service_errors(form, exc)
    context = {"comment": comment, "form": form, "panel_url": _panel_url(request, comment)}
    status = 422 if form.errors and not request.htmx else 200
    return render_screen(request, "collab/comment_edit.html", context, partial="form", status=status)


def _panel_url(request: WorkspaceRequest, comment: Comment) -> str:
    kind, record = ("deals", comment.deal) if comment.deal_id else ("companies", comment.company)
    assert record is not None
    return reverse("collab:panel", args=[request.workspace.slug, kind, record.uuid])


@require_POST
@workspace_view(write=True)
def comment_delete(request: WorkspaceRequest, comment_uuid: str) -> HttpResponse:
    comment = request.scope.get(Comment, comment_uuid)
    deal, company = comment.deal, comment.company
    services.comment_delete(comment=comment, actor=request.membership)  # PermissionDenied → 403
    return _after_write(request, deal, company)


# ---- tasks and the next step -----------------------------------------------------------------------------------


@require_POST
@workspace_view(write=True)
def task_create(request: WorkspaceRequest, deal_uuid: str) -> HttpResponse:
    deal = request.scope.get(Deal, deal_uuid)
    assignees = services.mentionable_members(workspace=request.workspace, deal=deal, limit=100)
    form = TaskForm(request.POST, assignees=assignees)
    if form.is_valid():
        try:
            services.task_create(actor=request.membership, deal=deal, **form.cleaned_data)
            return _after_write(request, deal, None)
        except ValidationError as exc:
            apply_service_errors(form, exc)
    return _after_write(request, deal, None, task_form=form)


@require_POST
@workspace_view(write=True)
def task_done(request: WorkspaceRequest, task_uuid: str) -> HttpResponse:
    task = request.scope.get(Task, task_uuid)
    services.task_update(task=task, actor=request.membership, done=request.POST.get("done") == "on")
    if request.POST.get("next") == "my_day":
        return redirect("collab:my_day", slug=request.workspace.slug)
    return _after_write(request, task.deal, None)


@require_POST
@workspace_view(write=True)
def task_delete(request: WorkspaceRequest, task_uuid: str) -> HttpResponse:
    task = request.scope.get(Task, task_uuid)
    deal = task.deal
    services.task_delete(task=task, actor=request.membership)
    return _after_write(request, deal, None)


@require_POST
@workspace_view(write=True)
def next_step_save(request: WorkspaceRequest, deal_uuid: str) -> HttpResponse:
    deal = request.scope.get(Deal, deal_uuid)
    form = NextStepForm(request.POST)
    if form.is_valid():
        try:
            deal = services.deal_next_step_set(
                deal=deal, actor=request.membership, next_step=form.cleaned_data["next_step"]
            )
            return _after_write(request, deal, None)
        except ValidationError as exc:
            apply_service_errors(form, exc)
    return _after_write(request, deal, None, next_step_form=form)


# ---- notifications ---------------------------------------------------------------------------------------------


def _bell(request: WorkspaceRequest) -> HttpResponse:
    context = {
        "unread": selectors.unread_count(request.membership),
        "latest": selectors.notifications_for(request.membership, limit=8, unread_only=True),
    }
    return render(request, "collab/_bell_menu.html", context)


def _notifications(request: WorkspaceRequest) -> HttpResponse:
    context = {
        "notifications": selectors.notifications_for(request.membership, limit=100),
        "unread": selectors.unread_count(request.membership),
    }
    return render_screen(request, "collab/notifications.html", context, partial="list")


@require_GET
@workspace_view(own=True)
def bell(request: WorkspaceRequest) -> HttpResponse:
    """The bell's count and its latest unread notifications (polled by the nav)."""
    return _bell(request)


@require_GET
@workspace_view(own=True)
def notifications(request: WorkspaceRequest) -> HttpResponse:
    return _notifications(request)


@require_GET
@workspace_view(own=True)
def notification_open(request: WorkspaceRequest, notification_uuid: str) -> HttpResponse:
    """Follow a notification (from the bell, an email or a push): it is marked read on the way."""
    notification = Notification.objects.filter(recipient=request.membership, uuid=parse_uuid(notification_uuid)).first()
    if notification is None:
        raise Http404("No such notification")
    services.notifications_mark_read(member=request.membership, uuids=[notification.uuid])
    target = notification.url if notification.url.startswith("/") and not notification.url.startswith("//") else ""
    return HttpResponseRedirect(target or reverse("collab:notifications", args=[request.workspace.slug]))


@require_POST
@workspace_view(own=True)
def notifications_read(request: WorkspaceRequest) -> HttpResponse:
    """Mark one notification read (`notification=<uuid>`) or all of them (no parameter)."""
    one = request.POST.get("notification")
    count = services.notifications_mark_read(member=request.membership, uuids=[one] if one else None)
    if request.htmx:
        return _bell(request) if request.POST.get("from") == "bell" else _notifications(request)
    if not one:
        messages.success(request, f"{count} notification{'s' if count != 1 else ''} marked read.")
    return redirect("collab:notifications", slug=request.workspace.slug)


@require_http_methods(["GET", "POST"])
@workspace_view(own=True)
def notification_settings(request: WorkspaceRequest) -> HttpResponse:
    current = services.settings_for(request.membership)
    # Every box unticked posts nothing, which is still a choice to save.
    form = NotificationSettingsForm(request.POST if request.method == "POST" else None, current=current)
    if request.method == "POST" and form.is_valid():
        services.notification_settings_save(member=request.membership, channels=form.channels())
        messages.success(request, "Notification settings saved.")
        return redirect("collab:notification_settings", slug=request.workspace.slug)
    context = {
        "form": form,
        "push_key": push.application_server_key(),
        "devices": request.membership.push_subscriptions.count(),
    }
    return render_screen(request, "collab/settings.html", context)


def _json_body(request: WorkspaceRequest) -> dict[str, Any] | None:
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


@require_POST
@workspace_view(own=True)
def push_subscribe(request: WorkspaceRequest) -> JsonResponse:
    """Store this browser's PushSubscription (its JSON: endpoint and keys p256dh, auth)."""
    body = _json_body(request)
    keys = body.get("keys") if body else None
    if body is None or not isinstance(keys, dict):
        return JsonResponse({"error": "Send the browser's PushSubscription as JSON."}, status=400)
    try:
        services.push_subscription_save(
            member=request.membership,
            endpoint=str(body.get("endpoint") or ""),
            p256dh=str(keys.get("p256dh") or ""),
            auth=str(keys.get("auth") or ""),
        )
    except ValidationError as exc:
        return JsonResponse({"error": " ".join(exc.messages)}, status=400)
    return JsonResponse({"ok": True, "devices": request.membership.push_subscriptions.count()}, status=201)


@require_POST
@workspace_view(own=True)
def push_unsubscribe(request: WorkspaceRequest) -> JsonResponse:
    body = _json_body(request) or {}
    deleted = services.push_subscription_delete(member=request.membership, endpoint=str(body.get("endpoint") or ""))
    return JsonResponse({"ok": True, "deleted": deleted})


# ---- my day ----------------------------------------------------------------------------------------------------


@require_GET
@workspace_view()
def my_day(request: WorkspaceRequest) -> HttpResponse:
    return render_screen(request, "collab/my_day.html", {"day": selectors.my_day(request.scope)})
