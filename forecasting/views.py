"""The forecast dashboard, its live-update endpoint, targets, what-if and the accuracy page."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from forecasting import accuracy, selectors
from forecasting.forms import DashboardFilterForm, TargetForm, WhatIfForm
from forecasting.services import forecast_request, target_set
from vectoros import ratelimit
from vectoros.forms import apply_service_errors
from vectoros.http import WorkspaceRequest, workspace_view


@require_GET
@workspace_view()
def dashboard(request: WorkspaceRequest) -> HttpResponse:
    # A team or rep out of the member's sight is a field error: the page then shows the member's own scope.
    form = DashboardFilterForm(request.GET or None, scope=request.scope)
    team, rep = form.chosen()
    run = selectors.latest_run(request.workspace)
    context: dict[str, object] = {"form": form, "run": run, "what_if_form": WhatIfForm(), "target_form": None}
    if run is not None:
        context.update(selectors.dashboard(request.scope, run, team=team, rep=rep))
        context["target_form"] = TargetForm(scope=request.scope) if request.scope.sets_any_target else None
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
    ratelimit.enforce(request, "reforecast", f"workspace:{request.workspace.id}", what="re-forecast")
    forecast_request(workspace=request.workspace)
    messages.success(request, "Re-forecast queued: the dashboard shows the new forecast as soon as it is stored.")
    return redirect("forecasting:dashboard", slug=request.workspace.slug)


@require_POST
@workspace_view(write=True)
def target_save(request: WorkspaceRequest) -> HttpResponse:
    run = selectors.latest_run(request.workspace)
    if not request.scope.sets_any_target:
        raise PermissionDenied("Only owners, admins and the managers of a team set targets.")
    form = TargetForm(request.POST, scope=request.scope)
    if form.is_valid():
        request.scope.require_target(team=form.cleaned_data["team"], rep=form.cleaned_data["rep"])
    if run is None:
        messages.error(request, "Run a forecast first: targets are set for its period.")
    elif not form.is_valid():
        messages.error(request, "; ".join(str(e) for errs in form.errors.values() for e in errs))
    else:
        try:
            target_set(
                scope=request.scope,
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
    """A scenario beside the base forecast, for the scope the dashboard shows. It only reads: nothing stored changes."""
    run = selectors.latest_run(request.workspace)
    form = WhatIfForm(request.GET)
    context: dict[str, object] = {
        "what_if_form": form,
        "run": run,
        "form": DashboardFilterForm(scope=request.scope),
        "picked": selectors.what_if_picked(request.scope, form.picked()),
    }
    scenario = None
    if run is not None and form.is_valid():
        ratelimit.enforce(request, "what_if", f"member:{request.membership.id}", what="what-if scenarios")
        try:
            built = selectors.what_if_build(deals=request.scope.deals(), **form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            scenario = selectors.what_if_scenario(request.workspace, run, built)
    if run is not None:
        context.update(selectors.dashboard(request.scope, run, team=None, rep=None, scenario=scenario))
    template = "forecasting/dashboard.html"
    if request.htmx:
        template += "#forecast-body"
    return render(request, template, context, status=422 if form.errors and not request.htmx else 200)


@require_GET
@workspace_view()
def what_if_deals(request: WorkspaceRequest) -> HttpResponse:
    """The what-if's deal search (htmx): open deals in the member's sight whose title or company matches."""
    form = WhatIfForm(request.GET)
    query = (request.GET.get("q") or "").strip()
    matches, note = selectors.what_if_matches(request.scope, query)
    picked = selectors.what_if_picked(request.scope, form.picked())
    ticked = {row["deal"].id for row in picked}  # type: ignore[attr-defined]
    context = {
        "query": query,
        "matches": [deal for deal in matches if deal.id not in ticked],
        "search_note": note,
        "picked": picked,
    }
    return render(request, "forecasting/dashboard.html#what-if-deals", context)


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
            "learnt": accuracy.learnt_now(request.workspace),
            "jobs": accuracy.backtest_jobs(request.workspace),
            "horizons": accuracy.HORIZON_LABELS,
        },
    )
