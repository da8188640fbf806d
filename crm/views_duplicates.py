"""Duplicates pages (one per kind, under Data): suggestions with Merge and Not a duplicate, recent merges with Undo."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from crm.duplicates import duplicate_suggestions_for_member
from crm.merge import MODELS, MergeRefused, duplicate_dismiss, merge_undo, record_merge
from crm.models import DuplicateKind, MergeRecord
from vectoros.http import WorkspaceRequest, workspace_view

RECENT_MERGES = 20


class PairForm(forms.Form):
    keep = forms.UUIDField()
    merge = forms.UUIDField()


def _kind(kind: str) -> str:
    if kind not in DuplicateKind.values:
        raise Http404("No such kind of record")
    return kind


@require_GET
@workspace_view()
def duplicates(request: WorkspaceRequest, kind: str) -> HttpResponse:
    kind = _kind(kind)
    suggestions, total = duplicate_suggestions_for_member(request.scope, kind)
    merges = MergeRecord.objects.for_workspace(request.workspace).filter(kind=kind).select_related("merged_by")
    context = {
        "kind": kind,
        "kinds": DuplicateKind.choices,
        "suggestions": suggestions,
        "total": total,
        "merges": merges[:RECENT_MERGES],
    }
    return render(request, "crm/data/duplicates.html", context)


def _pair(request: WorkspaceRequest, kind: str) -> tuple[Any, Any]:
    form = PairForm(request.POST)
    if not form.is_valid():
        raise Http404("No such records")
    model = MODELS[kind]
    return request.scope.get(model, form.cleaned_data["keep"]), request.scope.get(model, form.cleaned_data["merge"])


@require_POST
@workspace_view()
def duplicates_merge(request: WorkspaceRequest, kind: str) -> HttpResponse:
    kind = _kind(kind)
    keep, merge = _pair(request, kind)
    try:
        record = record_merge(
            workspace=request.workspace, kind=kind, target=keep, source=merge, actor=request.membership
        )
    except MergeRefused as exc:
        messages.error(request, f"Not merged: {exc.messages[0]}")
    else:
        messages.success(
            request,
            f"“{record.source_label}” merged into “{record.target_label}” ({record.moved_count} linked rows moved). "
            "You can undo it below for 30 days.",
        )
    return redirect("crm_data:duplicates", request.workspace.slug, kind)


@require_POST
@workspace_view()
def duplicates_dismiss(request: WorkspaceRequest, kind: str) -> HttpResponse:
    kind = _kind(kind)
    keep, merge = _pair(request, kind)
    duplicate_dismiss(workspace=request.workspace, kind=kind, a=keep.uuid, b=merge.uuid, actor=request.membership)
    messages.success(request, "Marked as not a duplicate: this pair will not be suggested again.")
    return redirect("crm_data:duplicates", request.workspace.slug, kind)


@require_POST
@workspace_view()
def merge_undo_view(request: WorkspaceRequest, merge_uuid: str) -> HttpResponse:
    record = get_object_or_404(MergeRecord.objects.for_workspace(request.workspace), uuid=merge_uuid)
    if record.kind == DuplicateKind.DEALS:
        request.scope.get(MODELS[record.kind], record.target_uuid)  # the survivor must be in sight (404 otherwise)
    try:
        merge_undo(record=record, actor=request.membership)
    except MergeRefused as exc:
        messages.error(request, f"Not undone: {exc.messages[0]}")
    else:
        messages.success(request, f"Merge undone: “{record.source_label}” is back with everything it had.")
    return redirect("crm_data:duplicates", request.workspace.slug, record.kind)
