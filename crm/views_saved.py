"""Saved views of the deal list and the board: a name for the filters, columns and sort in the address bar."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from crm import services
from crm.models import SavedView, SavedViewScreen, SavedViewSharing
from crm.selectors import saved_views_for_member
from tenancy.access import get_in_workspace
from tenancy.scope import Scope
from vectoros.http import WorkspaceRequest, workspace_view

_SCREEN_URLS = {SavedViewScreen.DEALS: "crm:deal_list", SavedViewScreen.BOARD: "crm:board"}


class SavedViewForm(forms.Form):
    name = forms.CharField(max_length=80, label="Name")
    sharing = forms.ChoiceField(choices=SavedViewSharing.choices, label="Who sees it")
    screen = forms.ChoiceField(choices=SavedViewScreen.choices, widget=forms.HiddenInput)
    query = forms.CharField(max_length=2000, required=False, widget=forms.HiddenInput)


@dataclass(frozen=True)
class SavedViewRow:
    view: SavedView
    url: str
    can_delete: bool
    current: bool


def _screen_url(workspace_slug: str, screen: str, query: str = "") -> str:
    url = reverse(_SCREEN_URLS[SavedViewScreen(screen)], args=[workspace_slug])
    return f"{url}?{query}" if query else url


def saved_views_context(scope: Scope, screen: str, query: str) -> dict[str, Any]:
    """The screen's saved views (with the one being looked at marked) and the form that saves the current one."""
    member = scope.membership
    assert member is not None  # screens always have a member
    rows = [
        SavedViewRow(
            view=view,
            url=_screen_url(scope.workspace.slug, screen, view.query),
            can_delete=view.owner_id == member.id
            or (member.can_administer and view.sharing != SavedViewSharing.PERSONAL),
            current=bool(query) and view.query == query,
        )
        for view in saved_views_for_member(member, screen)
    ]
    form = SavedViewForm(initial={"screen": screen, "query": query, "sharing": SavedViewSharing.PERSONAL})
    return {"saved_views": rows, "saved_view_form": form, "saved_view_screen": screen}


@require_POST
@workspace_view()
def saved_view_create(request: WorkspaceRequest) -> HttpResponse:
    form = SavedViewForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The view was not saved: give it a name.")
        screen = request.POST.get("screen")
        return redirect(_screen_url(request.workspace.slug, screen if screen in _SCREEN_URLS else "deals"))
    data = form.cleaned_data
    try:
        view = services.saved_view_save(
            actor=request.membership, screen=data["screen"], name=data["name"], query=data["query"],
            sharing=data["sharing"],
        )  # fmt: skip
    except ValidationError as exc:
        messages.error(request, f"The view was not saved: {' '.join(exc.messages)}")
        return redirect(_screen_url(request.workspace.slug, data["screen"], data["query"]))
    messages.success(request, f"View “{view.name}” saved.")
    return redirect(_screen_url(request.workspace.slug, view.screen, view.query))


@require_POST
@workspace_view()
def saved_view_delete(request: WorkspaceRequest, view_uuid: str) -> HttpResponse:
    view = get_in_workspace(SavedView, request.workspace, view_uuid)
    admin_may = request.membership.can_administer and view.sharing != SavedViewSharing.PERSONAL
    if not admin_may and not saved_views_for_member(request.membership, view.screen).filter(id=view.id).exists():
        raise Http404("Not found")  # someone else's personal view: as if missing
    services.saved_view_delete(view=view, actor=request.membership)
    messages.success(request, f"View “{view.name}” deleted.")
    return redirect(_screen_url(request.workspace.slug, view.screen))
