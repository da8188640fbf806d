"""The AI briefs' screens: the deal brief panel, meeting prep, the weekly narrative, why the forecast changed, Ask.

Each view builds its facts in the member's Scope, then asks `briefs.brief_write` (or `ask.ask`), which never
raises for API trouble: a missing key, a spent budget or a failing API gives the labelled deterministic
text. Views that can call the model count against the member's "ai" rate limit; over it, the briefs show
their deterministic text (a panel on the deal page should not turn into an error) and Ask answers 429.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django import forms
from django.http import HttpResponse
from django.views.decorators.http import require_GET

from crm.models import Deal
from insights import fallbacks
from insights.ask import MAX_QUESTION, ask
from insights.briefs import BriefResult, brief_write
from insights.facts import deal_brief_facts, forecast_change_facts, meeting_prep_facts, weekly_facts
from vectoros.http import WorkspaceRequest, render_screen, workspace_view
from vectoros.ratelimit import RateLimited, enforce


class AskForm(forms.Form):
    q = forms.CharField(
        label="Your question",
        max_length=MAX_QUESTION,
        strip=True,
        widget=forms.TextInput(attrs={"placeholder": "Which Enterprise deals slipped this month and why?"}),
    )


def _limit(request: WorkspaceRequest) -> None:
    enforce(request, "ai", f"member:{request.membership.id}", "AI briefs and questions")


def _brief(request: WorkspaceRequest, facts: dict[str, Any]) -> BriefResult:
    try:
        _limit(request)
    except RateLimited as exc:
        return BriefResult(fallbacks.write(facts), facts, None, grounded=False, fallback=True, reason=str(exc))
    return brief_write(workspace=request.workspace, facts=facts)


def _screen(request: WorkspaceRequest, facts: dict[str, Any], title: str, deal: Deal | None = None) -> HttpResponse:
    """A brief's page (a deal's or the workspace's), or under htmx its panel alone."""
    template = "insights/briefs/deal.html" if deal is not None else "insights/briefs/page.html"
    context = {"deal": deal, "brief": _brief(request, facts), "title": title}
    return render_screen(request, template, context, partial="brief")


@require_GET
@workspace_view()
def deal_brief(request: WorkspaceRequest, deal_uuid: UUID) -> HttpResponse:
    deal = request.scope.get(Deal, deal_uuid)
    return _screen(request, deal_brief_facts(request.scope, deal), "Deal brief", deal=deal)


@require_GET
@workspace_view()
def meeting_prep(request: WorkspaceRequest, deal_uuid: UUID) -> HttpResponse:
    deal = request.scope.get(Deal, deal_uuid)
    return _screen(request, meeting_prep_facts(request.scope, deal), "Meeting prep", deal=deal)


@require_GET
@workspace_view()
def weekly(request: WorkspaceRequest) -> HttpResponse:
    return _screen(request, weekly_facts(request.scope), "This week in the pipeline")


@require_GET
@workspace_view()
def forecast_change(request: WorkspaceRequest) -> HttpResponse:
    return _screen(request, forecast_change_facts(request.scope), "Why the forecast changed")


@require_GET
@workspace_view()
def ask_page(request: WorkspaceRequest) -> HttpResponse:
    form = AskForm(request.GET if "q" in request.GET else None)
    answer = None
    if form.is_bound and form.is_valid():
        _limit(request)
        answer = ask(request.scope, form.cleaned_data["q"])
    return render_screen(request, "insights/briefs/ask.html", {"form": form, "answer": answer}, partial="answer")
