"""Pipeline board, deal list, deal page: server-rendered screens that HTMX makes quicker."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm import services
from crm.categories import category_labels
from crm.forms import ActivityForm, DealFilterForm, DealForm
from crm.models import Deal, SavedViewScreen, Stage
from crm.selectors import (
    deal_custom_values,
    deal_get_for_member,
    deal_history_rows,
    deals_filtered,
    deleted_deal_get,
    deleted_deals_for_admin,
)
from crm.views_saved import saved_views_context
from tenancy.access import require_admin
from vectoros.forms import apply_service_errors
from vectoros.http import WorkspaceRequest, render_screen, workspace_view

DEALS_PER_PAGE = 50
_EDITABLE = (
    *("title", "company", "owner", "stage", "amount", "probability", "expected_close_date", "source"),
    *("lost_reason", "description", "forecast_category"),
)


@require_GET
@workspace_view()
def deal_list(request: WorkspaceRequest) -> HttpResponse:
    """Open deals unless asked otherwise; the Export link and a saved view carry the filters as applied."""
    form = DealFilterForm(request.GET, scope=request.scope, default_outcome="open")
    valid = form.is_valid()  # an invalid filter shows its message and filters nothing
    # Only the shown columns: the wide ones (description, attributes) made the sort before LIMIT slow.
    deals = deals_filtered(request.scope, form.filters()).only(
        *("uuid", "title", "amount", "currency", "expected_close_date", "outcome", "created_at", "stage_id"),
        *("closed_at", "company__uuid", "company__name", "owner__display_name", "stage__name"),
    )
    paginator = Paginator(deals, DEALS_PER_PAGE)
    page = paginator.get_page((valid and form.cleaned_data.get("page")) or 1)
    query = form.effective_query()
    context = {
        "form": form,
        "page": page,
        "query": query,
        "total": paginator.count,
        "columns": form.columns(),
        **saved_views_context(request.scope, SavedViewScreen.DEALS, query),
    }
    return render_screen(request, "crm/deal_list.html", context, partial="results")


@require_http_methods(["GET", "POST"])
@workspace_view()
def deal_create(request: WorkspaceRequest) -> HttpResponse:
    ws = request.workspace
    initial = {"owner": request.membership.uuid}
    first = Stage.objects.for_workspace(ws).filter(pipeline__is_default=True).order_by("order").first()
    if first is not None:
        initial["stage"] = first.uuid
    form = DealForm(request.POST or None, scope=request.scope, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = {name: value for name, value in form.cleaned_data.items() if not name.startswith("cf_")}
        stage = data.pop("stage")
        if custom := {k: v for k, v in form.custom_values().items() if v is not None}:
            data["attributes"] = custom
        try:
            deal = services.deal_create(workspace=ws, actor=request.membership, stage=stage, **data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, f"Deal “{deal.title}” created.")
            return redirect("crm:deal_detail", ws.slug, deal.uuid)
    status = 422 if form.errors else 200
    return render_screen(request, "crm/deal_form.html", {"form": form}, status=status)


def _deal_context(request: WorkspaceRequest, deal: Deal) -> dict[str, Any]:
    activities = deal.activities.select_related("owner").order_by("-occurred_at", "-id")[:100]
    return {
        "deal": deal,
        "activities": activities,
        "history": deal_history_rows(deal),
        "activity_form": ActivityForm(initial={"kind": "call"}),
        "move_stages": Stage.objects.filter(pipeline_id=deal.pipeline_id).order_by("order"),
        "contacts": deal.contacts.select_related("company").all(),
        "can_write": request.membership.can_write,
        "forecast_category_label": category_labels(deal.workspace_id).get(deal.effective_forecast_category, ""),
        "custom_values": deal_custom_values(deal),
    }


@require_GET
@workspace_view()
def deal_detail(request: WorkspaceRequest, deal_uuid: str) -> HttpResponse:
    deal = deal_get_for_member(request.scope, deal_uuid)
    return render_screen(request, "crm/deal_detail.html", _deal_context(request, deal))


@require_http_methods(["GET", "POST"])
@workspace_view()
def deal_edit(request: WorkspaceRequest, deal_uuid: str) -> HttpResponse:
    """Inline edit: under HTMX the details panel turns into this form and back; without JS a plain page."""
    deal = deal_get_for_member(request.scope, deal_uuid)
    initial = {name: getattr(deal, name) for name in _EDITABLE}
    initial.update(
        company=deal.company.uuid if deal.company else None,
        owner=deal.owner.uuid if deal.owner else None,
        stage=deal.stage.uuid,
    )
    form = DealForm(request.POST or None, scope=request.scope, initial=initial, deal=deal)
    if request.method == "POST" and form.is_valid():
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in _EDITABLE}
        if form.custom_changed():
            changes["attributes"] = {**(deal.attributes or {}), **form.custom_values()}
        try:
            if changes:
                deal = services.deal_update(deal=deal, actor=request.membership, changes=changes)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            deal = deal_get_for_member(request.scope, deal.uuid)
            if request.htmx:
                context = _deal_context(request, deal)
                return render_screen(request, "crm/deal_detail.html", context, partial="saved")
            messages.success(request, "Deal saved." if changes else "Nothing changed.")
            return redirect("crm:deal_detail", request.workspace.slug, deal.uuid)
    # htmx swaps only 2xx answers, so the form with its messages comes back as 200 there.
    status = 422 if form.errors and not request.htmx else 200
    context = {"form": form, "deal": deal}
    return render_screen(request, "crm/deal_form.html", context, partial="deal-form", status=status)


@require_POST
@workspace_view()
def activity_create(request: WorkspaceRequest, deal_uuid: str) -> HttpResponse:
    deal = deal_get_for_member(request.scope, deal_uuid)
    form = ActivityForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.activity_log(
                workspace=request.workspace,
                actor=request.membership,
                deal=deal,
                kind=data["kind"],
                subject=data["subject"],
                body=data["body"],
                direction=data["direction"],
                occurred_at=data["occurred_at"],
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            if not request.htmx:
                messages.success(request, "Activity logged.")
                return redirect("crm:deal_detail", request.workspace.slug, deal.uuid)
            form = ActivityForm(initial={"kind": "call"})
    context = {**_deal_context(request, deal), "activity_form": form}
    status = 422 if form.errors and not request.htmx else 200
    return render_screen(request, "crm/deal_detail.html", context, partial="activities", status=status)


@require_POST
@workspace_view()
def deal_delete(request: WorkspaceRequest, deal_uuid: str) -> HttpResponse:
    """Anyone who sees the deal and may write deletes it; it is kept, with its history, for an admin to restore."""
    deal = deal_get_for_member(request.scope, deal_uuid)
    services.deal_delete(deal=deal, actor=request.membership)
    messages.success(request, f"Deal “{deal.title}” deleted. An admin can restore it from Deleted deals.")
    return redirect("crm:deal_list", request.workspace.slug)


@require_GET
@workspace_view()
def deleted_deals(request: WorkspaceRequest) -> HttpResponse:
    require_admin(request.membership)
    page = Paginator(deleted_deals_for_admin(request.workspace), DEALS_PER_PAGE).get_page(request.GET.get("page"))
    return render_screen(request, "crm/deleted_deals.html", {"page": page})


@require_POST
@workspace_view()
def deal_restore(request: WorkspaceRequest, deal_uuid: str) -> HttpResponse:
    require_admin(request.membership)
    deal = deleted_deal_get(request.workspace, deal_uuid)
    services.deal_restore(deal=deal, actor=request.membership)
    messages.success(request, f"Deal “{deal.title}” restored.")
    return redirect("crm:deal_detail", request.workspace.slug, deal.uuid)
