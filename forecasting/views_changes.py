"""What changed: the pipeline waterfall between two dates, each bar listing its deals."""

from __future__ import annotations

from datetime import timedelta

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from forecasting import charts
from forecasting.forms import ChangesForm
from forecasting.periods import fiscal_quarter_bounds, period_label
from forecasting.waterfall import FLOW_LABELS, FLOWS, changes_for_member
from tenancy.models import Membership
from vectoros.http import WorkspaceRequest, workspace_view


@require_GET
@workspace_view()
def changes(request: WorkspaceRequest) -> HttpResponse:
    """Since last week by default; a bad date or a team out of sight is a field error, and the default view shows."""
    workspace = request.workspace
    today = workspace.today()
    initial = {"start": today - timedelta(days=7), "end": today}
    form = ChangesForm(request.GET or None, scope=request.scope, flows=FLOW_LABELS, initial=initial)
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}
    end = data.get("end") or today
    start = data.get("start") or end - timedelta(days=7)
    team, rep = data.get("team"), data.get("rep")
    deals = data.get("deals") or "all"
    period = None
    if deals != "all":
        period = fiscal_quarter_bounds(workspace, today)
        if deals == "next":
            period = fiscal_quarter_bounds(workspace, period[1] + timedelta(days=1))
    if team is None and rep is None and not request.scope.sees_everything and request.membership.team is None:
        rep = request.membership
    result = changes_for_member(request.scope, start=start, end=end, period=period, team=team, rep=rep)
    flow = data.get("flow") or ""
    owners = dict(Membership.objects.for_workspace(workspace).values_list("id", "display_name"))
    currency = workspace.currency
    figure = charts.waterfall(
        (f"Start {start:%b %-d}", float(result.start.amount)),
        [(FLOW_LABELS[name], float(result.flows[name].amount)) for name in FLOWS],
        (f"End {end:%b %-d}", float(result.end.amount)),
        currency,
    )
    query = request.GET.copy()
    # A bar's link keeps the window it was drawn for, so the list and the chart agree (and the form shows it).
    query["start"], query["end"] = start.isoformat(), end.isoformat()
    bars = []
    for name in FLOWS:
        query["flow"] = name
        bars.append({"name": name, "label": FLOW_LABELS[name], "total": result.flows[name], "query": query.urlencode()})
    context = {
        "form": form,
        "result": result,
        "start": start,
        "end": end,
        "period_name": period_label(workspace, *period) if period else None,
        "scope_name": rep.display_name if rep else team.name if team else "Workspace",
        "bars": bars,
        "flow": flow,
        "flow_label": FLOW_LABELS.get(flow, ""),
        "items": [{"item": item, "owner": owners.get(item.owner_id or 0, "")} for item in result.items.get(flow, [])],
        "figure": figure,
        "currency": currency,
    }
    return render(request, "forecasting/changes.html", context)
