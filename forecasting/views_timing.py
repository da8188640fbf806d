"""A deal's close timing on its page: the chance it is won this quarter, next quarter, later, or not at all."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from crm.selectors import deal_get_for_member
from forecasting.timing import deal_close_timing
from vectoros.http import WorkspaceRequest, workspace_view


@require_GET
@workspace_view()
def deal_timing(request: WorkspaceRequest, deal_uuid: object) -> HttpResponse:
    """The deal page's "When it may close" panel (loaded by htmx, so the page never waits on the model fit)."""
    deal = deal_get_for_member(request.scope, deal_uuid)
    context = {"deal": deal, "bars": deal_close_timing(deal)}
    template = "forecasting/deal_timing.html"
    if request.htmx:
        template += "#timing"
    return render(request, template, context)
