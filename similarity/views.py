"""Screens of the similarity app: free-text search over deals by meaning, and the deal page's panel."""

from __future__ import annotations

import logging

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from crm.models import Deal
from similarity import selectors
from similarity.embedding import EmbeddingModelUnavailable
from similarity.forms import SearchForm
from similarity.models import DealEmbedding
from tenancy.access import parse_uuid
from vectoros.http import WorkspaceRequest, render_screen, workspace_view

logger = logging.getLogger(__name__)
SEARCH_RESULTS = 20


@require_GET
@workspace_view()
def search(request: WorkspaceRequest) -> HttpResponse:
    """Deals nearest in meaning to what the user typed, among the deals they may see."""
    form = SearchForm(request.GET or None)
    results: list[selectors.SimilarDeal] = []
    error = ""
    query = ""
    if form.is_bound and form.is_valid():
        query = form.cleaned_data["q"]
        if query:
            try:
                results = selectors.search_deals(
                    request.workspace.id,
                    query,
                    k=SEARCH_RESULTS,
                    outcome=form.cleaned_data["outcome"] or None,
                    owner_ids=request.scope.owner_ids,
                )
            except EmbeddingModelUnavailable as exc:
                logger.error("similar-deal search unavailable: %s", exc)
                error = "Search by meaning is unavailable: the embedding model could not be loaded."
    context = {
        "form": form,
        "query": query,
        "results": results,
        "error": error,
        "indexed": DealEmbedding.objects.for_workspace(request.workspace).count(),
        "deal_count": Deal.objects.for_workspace(request.workspace).count(),
    }
    return render_screen(request, "similarity/search.html", context, partial="results")


@require_GET
@workspace_view()
def deal_panel(request: WorkspaceRequest, deal_uuid: str) -> HttpResponse:
    """The deal page's fragment: similar won and lost deals, what they had in common, the won share."""
    deal = request.scope.deals().filter(uuid=parse_uuid(deal_uuid)).only("id", "uuid").first()
    if deal is None:
        raise Http404("No such deal")
    panel = selectors.deal_panel(request.workspace.id, deal.id, owner_ids=request.scope.owner_ids)
    return render(request, "similarity/deal_panel.html", {"deal": deal, "panel": panel})
