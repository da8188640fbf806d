"""Screens of the scoring app: the model page and the deal page's score panel (with the flag form)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.models import Deal
from scoring import charts, selectors
from scoring.forms import ScoreFlagForm
from scoring.services import score_flag_create, scorer_retrain_enqueue, scorer_rollback
from tenancy.access import require_admin
from vectoros import ratelimit
from vectoros.http import WorkspaceRequest, workspace_view


def _deal_for(request: WorkspaceRequest, deal_uuid: str) -> Deal:
    return request.scope.get(Deal, deal_uuid)


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
        "flags": selectors.flags_for_member(request.scope),
        "figures": charts.model_figures(versions, active, drift),
        "rollback_to": selectors.rollback_target(request.workspace.id),
    }
    return render(request, "scoring/model.html", context)


@require_POST
@workspace_view(write=True)
def retrain(request: WorkspaceRequest) -> HttpResponse:
    require_admin(request.membership)
    ratelimit.enforce(request, "retrain", f"workspace:{request.workspace.id}", what="retraining")
    scorer_retrain_enqueue(workspace=request.workspace)
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
