"""Screens of the scoring app: the model page and the deal page's score panel (with the flag form)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_q.tasks import async_task

from crm.models import Deal
from scoring import charts, selectors
from scoring.forms import ScoreFlagForm
from scoring.services import score_flag_create, scorer_rollback
from tenancy.access import parse_uuid, require_admin
from tenancy.jobs import queue_for
from vectoros.http import WorkspaceRequest, workspace_view


def _deal_for(request: WorkspaceRequest, deal_uuid: str) -> Deal:
    return get_object_or_404(Deal.objects.visible_to(request.membership), uuid=parse_uuid(deal_uuid))


@require_GET
@workspace_view()
def model_page(request: WorkspaceRequest) -> HttpResponse:
    versions = selectors.model_versions(request.workspace.id)
    active = next((v for v in versions if v.status == "active"), None)
    drift = selectors.latest_drift(active)
    context = {
        "versions": versions,
        "active": active,
        "drift": drift,
        "flags": selectors.flags_for_managers(request.workspace.id) if request.membership.role != "rep" else [],
        "figures": charts.model_figures(versions, active, drift),
    }
    return render(request, "scoring/model.html", context)


@require_POST
@workspace_view(write=True)
def retrain(request: WorkspaceRequest) -> HttpResponse:
    require_admin(request.membership)

    transaction.on_commit(
        lambda: async_task(
            "scoring.tasks.retrain_workspace",
            request.workspace.id,
            cluster=queue_for("scoring.tasks.retrain_workspace"),
        )
    )
    messages.success(request, "Retraining queued; the new version appears here when it is done.")
    return redirect("scoring:model", slug=request.workspace.slug)


@require_POST
@workspace_view(write=True)
def rollback(request: WorkspaceRequest) -> HttpResponse:
    require_admin(request.membership)
    try:
        model = scorer_rollback(workspace=request.workspace)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        transaction.on_commit(
            lambda: async_task("scoring.tasks.rescore_all", cluster=queue_for("scoring.tasks.rescore_all"))
        )
        messages.success(request, f"Version {model.version} is active again.")
    return redirect("scoring:model", slug=request.workspace.slug)


@require_GET
@workspace_view()
def deal_panel(request: WorkspaceRequest, deal_uuid: str) -> HttpResponse:
    deal = _deal_for(request, deal_uuid)
    panel = selectors.deal_panel(deal_id=deal.id, membership=request.membership)
    context = {"deal": deal, "panel": panel, "form": ScoreFlagForm()}
    return render(request, "scoring/deal_panel.html#panel", context)


@require_http_methods(["POST"])
@workspace_view()
def flag(request: WorkspaceRequest, deal_uuid: str) -> HttpResponse:
    deal = _deal_for(request, deal_uuid)
    form = ScoreFlagForm(request.POST)
    status = 200
    if form.is_valid():
        try:
            score_flag_create(deal=deal, membership=request.membership, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
            status = 400
        else:
            form = ScoreFlagForm()
    else:
        status = 400
    panel = selectors.deal_panel(deal_id=deal.id, membership=request.membership)
    context = {"deal": deal, "panel": panel, "form": form, "flagged": status == 200}
    return render(request, "scoring/deal_panel.html#panel", context, status=status)
