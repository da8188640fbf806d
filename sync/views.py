"""Screens of the sync app: the CRM sync settings tab (status, sync now, settings) and the deal's conflict panel."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.models import Deal
from sync import selectors
from sync.forms import ConnectionSettingsForm
from sync.models import ConnectionStatus, CrmConnection
from sync.services import connection_settings_save, sync_soon
from tenancy.access import get_in_workspace, require_admin
from vectoros.http import WorkspaceRequest, render_screen, workspace_view


@require_http_methods(["GET", "POST"])
@workspace_view()
def sync_settings(request: WorkspaceRequest) -> HttpResponse:
    rows = selectors.connections_status(request.workspace)
    forms = {}
    for row in rows:
        conn = row.connection
        initial = {
            "interval_minutes": conn.interval_minutes,
            "conflict_policy": conn.conflict_policy,
            "attributes": "\n".join(f"{k} = {v}" for k, v in conn.field_mapping.get("attributes", {}).items()),
        }
        forms[conn.uuid] = ConnectionSettingsForm(initial=initial, prefix=str(conn.uuid))
    status = 200
    if request.method == "POST":
        require_admin(request.membership)
        conn = get_in_workspace(CrmConnection, request.workspace, request.POST.get("connection"))
        form = ConnectionSettingsForm(request.POST, prefix=str(conn.uuid))
        forms[conn.uuid] = form
        if form.is_valid():
            data = form.cleaned_data
            try:
                connection_settings_save(
                    connection=conn,
                    interval_minutes=data["interval_minutes"],
                    conflict_policy=data["conflict_policy"],
                    field_mapping={**conn.field_mapping, "attributes": data["attributes"]},
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, f"{conn.get_provider_display()} sync settings saved.")
                return redirect(reverse("sync:settings", args=[request.workspace.slug]))
        status = 422
    context = {
        "rows": [(row, forms[row.connection.uuid]) for row in rows],
        "tab": "sync",
        "can_administer": request.membership.can_administer,
    }
    return render_screen(request, "sync/settings.html", context, status=status)


@require_POST
@workspace_view()
def sync_now(request: WorkspaceRequest, connection_uuid: str) -> HttpResponse:
    require_admin(request.membership)
    conn = get_in_workspace(CrmConnection, request.workspace, connection_uuid)
    if conn.status != ConnectionStatus.OK:
        messages.error(request, "This connection is broken: reconnect it (connect_crm) before syncing.")
    else:
        sync_soon(connection=conn)
        messages.success(request, f"A {conn.get_provider_display()} sync is on its way.")
    return redirect(reverse("sync:settings", args=[request.workspace.slug]))


@require_GET
@workspace_view()
def deal_panel(request: WorkspaceRequest, deal_uuid: str) -> HttpResponse:
    deal = request.scope.get(Deal, deal_uuid)
    context = {"deal": deal, "synced": selectors.deal_link(deal), "conflicts": selectors.deal_conflicts(deal)}
    return render_screen(request, "sync/deal_panel.html", context)
