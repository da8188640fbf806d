"""Screens of the customers app: the customer list, the customer page, expansion signals, the forecast panel."""

from __future__ import annotations

import plotly.graph_objects as go
from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from customers import selectors
from customers.models import Customer
from customers.services import customer_settings_save, expansion_deal_create
from forecasting.forms import DashboardFilterForm
from forecasting.waterfall import owners_for_member
from tenancy.access import require_admin
from vectoros.http import WorkspaceRequest, render_screen, workspace_view
from vectoros.plots import FigureData, figure_payload

PER_PAGE = 50


class LeadTimeForm(forms.Form):
    renewal_lead_days = forms.IntegerField(min_value=1, max_value=730, label="Open renewal deals this many days ahead")


class CustomerListForm(forms.Form):
    sort = forms.ChoiceField(choices=[(k, k) for k in selectors.SORTS], required=False)
    page = forms.IntegerField(min_value=1, required=False)


@require_GET
@workspace_view()
def customer_list(request: WorkspaceRequest) -> HttpResponse:
    form = CustomerListForm(request.GET)
    valid = form.is_valid()
    sort = (valid and form.cleaned_data.get("sort")) or "arr"
    paginator = Paginator(selectors.customers_for_list(request.workspace, sort), PER_PAGE)
    page = paginator.get_page((valid and form.cleaned_data.get("page")) or 1)
    context = {
        "page": page,
        "sort": sort,
        "sorts": list(selectors.SORTS),
        "query": f"sort={sort}",
        "total": paginator.count,
        "lead_form": LeadTimeForm(initial={"renewal_lead_days": selectors.renewal_lead_days(request.workspace)}),
    }
    return render_screen(request, "customers/list.html", context, partial="results")


def _usage_figure(months: list[tuple[str, float]]) -> FigureData:
    fig = go.Figure(go.Bar(x=[m for m, _ in months], y=[v for _, v in months], text=[f"{v:,.0f}" for _, v in months]))
    fig.update_layout(
        title={"text": "Usage per month", "x": 0.01}, height=300, margin={"l": 50, "r": 20, "t": 50, "b": 50},
        paper_bgcolor="white", plot_bgcolor="white", xaxis_title="Month", yaxis_title="Usage (events)",
    )  # fmt: skip
    return figure_payload(fig, {"displaylogo": False, "responsive": True})


@require_GET
@workspace_view()
def customer_detail(request: WorkspaceRequest, customer_uuid: str) -> HttpResponse:
    customer = request.scope.get(Customer, customer_uuid)
    page = selectors.customer_page(request.scope, customer)
    context = {
        "p": page,
        "customer": customer,
        "usage_chart": _usage_figure(page.usage_by_month) if page.usage_by_month else None,
    }
    return render(request, "customers/detail.html", context)


@require_GET
@workspace_view()
def expansion_list(request: WorkspaceRequest) -> HttpResponse:
    context = {"candidates": selectors.expansion_ranked(request.workspace)}
    return render(request, "customers/expansion.html", context)


@require_POST
@workspace_view(write=True)
def expansion_deal(request: WorkspaceRequest, customer_uuid: str) -> HttpResponse:
    customer = request.scope.get(Customer, customer_uuid)
    try:
        deal = expansion_deal_create(customer=customer, actor=request.membership)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("customers:detail", slug=request.workspace.slug, customer_uuid=customer.uuid)
    messages.success(request, f"Expansion deal “{deal.title}” created.")
    return redirect("crm:deal_detail", slug=request.workspace.slug, deal_uuid=deal.uuid)


@require_GET
@workspace_view()
def forecast_panel(request: WorkspaceRequest) -> HttpResponse:
    """The renewals panel the forecast dashboard loads with htmx: renewed ARR, gross and net retention per quarter,
    for the dashboard's team or rep (the member's scope by default), and this quarter per team."""
    # The dashboard's own filter: a team or rep out of sight is a field error and the member's scope is shown.
    form = DashboardFilterForm(request.GET or None, scope=request.scope)
    team, rep = form.chosen()
    inputs = selectors.renewal_inputs(request.workspace)
    owners = owners_for_member(request.scope, team=team, rep=rep)
    context = {
        "periods": selectors.renewal_forecast(request.workspace, owner_ids=owners, inputs=inputs),
        "teams": selectors.renewal_team_rollups(request.scope, inputs) if team is None and rep is None else [],
        "filtered": owners is not None,
    }
    return render(request, "customers/forecast_panel.html", context)


@require_POST
@workspace_view(write=True)
def settings_save(request: WorkspaceRequest) -> HttpResponse:
    """The renewal lead time (owners and admins)."""
    require_admin(request.membership)
    form = LeadTimeForm(request.POST)
    if form.is_valid():
        customer_settings_save(workspace=request.workspace, renewal_lead_days=form.cleaned_data["renewal_lead_days"])
        messages.success(request, "Renewal lead time saved.")
    else:
        messages.error(request, "Choose a lead time between 1 and 730 days.")
    return redirect("customers:list", slug=request.workspace.slug)
