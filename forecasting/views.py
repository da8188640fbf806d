"""The forecast dashboard, its live-update endpoint, targets, what-if and the accuracy page."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.models import Deal
from forecasting import accuracy, selectors
from forecasting.forms import DashboardFilterForm, TargetForm, WhatIfForm
from forecasting.models import RunTrigger
from forecasting.services import forecast_run, target_set
from tenancy.access import visible_owner_ids
from vectoros.forms import apply_service_errors
from vectoros.http import WorkspaceRequest, workspace_view


def _owner_scope(request: WorkspaceRequest, team, rep) -> set[int] | None:
    visible = visible_owner_ids(request.membership)
    wanted: set[int] | None = None
    if rep is not None:
        wanted = {rep.id}
    elif team is not None:
        wanted = set(team.members.values_list("id", flat=True))
    if visible is None:
        return wanted
    return visible if wanted is None else wanted & visible


@require_GET
@workspace_view()
def dashboard(request: WorkspaceRequest) -> HttpResponse:
    form = DashboardFilterForm(request.GET or None, workspace=request.workspace)
    team = rep = None
    if form.is_bound and form.is_valid():
        team, rep = form.cleaned_data["team"], form.cleaned_data["rep"]
    run = selectors.latest_run(request.workspace)
    context: dict[str, object] = {"form": form, "run": run, "what_if_form": WhatIfForm(), "target_form": None}
    if run is not None:
        context.update(
            selectors.dashboard(request.workspace, run, team=team, rep=rep, owner_ids=_owner_scope(request, team, rep))
        )
        context["target_form"] = TargetForm(workspace=request.workspace)
    template = "forecasting/dashboard.html"
    if request.htmx and request.htmx.target == "forecast-body":
        template += "#forecast-body"
    return render(request, template, context)


@require_GET
@workspace_view()
def latest(request: WorkspaceRequest) -> HttpResponse:
    """Polled by the dashboard: the id of the newest run, so the page swaps in a new one without a reload."""
    run = selectors.latest_run(request.workspace)
    return JsonResponse(
        {"run": run.uuid.hex if run else None, "created_at": run.created_at.isoformat() if run else None}
    )


@require_POST
@workspace_view(write=True)
def run_now(request: WorkspaceRequest) -> HttpResponse:
    forecast_run(workspace=request.workspace, trigger=RunTrigger.MANUAL)
    messages.success(request, "Forecast updated.")
    return redirect("forecasting:dashboard", slug=request.workspace.slug)


@require_POST
@workspace_view(write=True)
def target_save(request: WorkspaceRequest) -> HttpResponse:
    run = selectors.latest_run(request.workspace)
    form = TargetForm(request.POST, workspace=request.workspace)
    if run is None:
        messages.error(request, "Run a forecast first: targets are set for its period.")
    elif not form.is_valid():
        messages.error(request, "; ".join(str(e) for errs in form.errors.values() for e in errs))
    else:
        try:
            target_set(
                workspace=request.workspace,
                period_start=run.period_start,
                period_end=run.period_end,
                amount=form.cleaned_data["amount"],
                team=form.cleaned_data["team"],
                owner=form.cleaned_data["rep"],
            )
            messages.success(request, "Target saved.")
        except ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))
    return redirect("forecasting:dashboard", slug=request.workspace.slug)


@require_http_methods(["GET"])
@workspace_view()
def what_if(request: WorkspaceRequest) -> HttpResponse:
    """A scenario beside the base forecast. It only reads: nothing stored changes."""
    run = selectors.latest_run(request.workspace)
    form = WhatIfForm(request.GET)
    context: dict[str, object] = {
        "what_if_form": form,
        "run": run,
        "form": DashboardFilterForm(workspace=request.workspace),
    }
    scenario = None
    if run is not None and form.is_valid():
        try:
            scenario = selectors.what_if_build(deals=Deal.objects.visible_to(request.membership), **form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
    if run is not None and scenario is not None:
        result = selectors.what_if_forecast(request.workspace, run, scenario)
        context.update(
            selectors.dashboard(
                request.workspace,
                run,
                team=None,
                rep=None,
                owner_ids=_owner_scope(request, None, None),
                scenario=result,
            )
        )
    elif run is not None:
        context.update(
            selectors.dashboard(
                request.workspace, run, team=None, rep=None, owner_ids=_owner_scope(request, None, None)
            )
        )
    template = "forecasting/dashboard.html"
    if request.htmx:
        template += "#forecast-body"
    return render(request, template, context, status=422 if form.errors and not request.htmx else 200)


@require_GET
@workspace_view()
def history(request: WorkspaceRequest) -> HttpResponse:
    return render(
        request,
        "forecasting/history.html",
        {
            "runs": selectors.past_runs_vs_actuals(request.workspace),
            "backtests": selectors.backtests(request.workspace),
            "rolling": accuracy.rolling_backtests(request.workspace),
        },
    )
