"""The insights page (deals that decide the period, rep insights, bottlenecks) and its focus panel."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from forecasting.forms import DashboardFilterForm
from insights import selectors
from insights.filters import FocusFilterForm
from vectoros.http import WorkspaceRequest, workspace_view


@require_GET
@workspace_view()
def insights_page(request: WorkspaceRequest) -> HttpResponse:
    # As on the dashboard: a team or rep out of the member's sight is a field error, and the page shows their own view.
    form = DashboardFilterForm(request.GET or None, scope=request.scope)
    team, rep = form.chosen()
    context = {"form": form, **selectors.insights_page(request.scope, team=team, rep=rep)}
    return render(request, "insights/insights.html", context)


@require_GET
@workspace_view()
def focus_panel(request: WorkspaceRequest) -> HttpResponse:
    """The five deals that decide the period, as a panel other pages include with htmx (forecast page, rep's home)."""
    form = FocusFilterForm(request.GET, scope=request.scope)
    if not form.is_valid():
        raise Http404("No such team or owner")  # the same answer for one out of sight and one that does not exist
    focus = selectors.focus_for_member(request.scope, team=form.cleaned_data["team"], rep=form.cleaned_data["owner"])
    return render(request, "insights/insights.html#focus-panel", {"focus": focus})
