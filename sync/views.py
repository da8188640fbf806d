"""Screens of the sync app: the CRM sync settings tab (status, sync now, settings) and the deal's conflict panel."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.models import Deal
from sync import selectors
from sync.clients import hubspot as hs_client
from sync.clients.salesforce import authorize_url
from sync.forms import ConnectForm, ConnectionSettingsForm, HubSpotOAuthForm, SalesforceOAuthForm
from sync.models import DEFAULT_BASE_URL, ConnectionStatus, CrmConnection, Provider
from sync.services import connection_save, connection_settings_save, oauth_connect, sync_soon
from tenancy.access import get_in_workspace, get_membership_for_user, require_admin
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
    connect_form = ConnectForm(request.POST if request.POST.get("action") == "connect" else None)
    if request.method == "POST" and request.POST.get("action") == "connect":
        require_admin(request.membership)
        if connect_form.is_valid():
            try:
                conn = connection_save(workspace=request.workspace, **connect_form.cleaned_data)
            except ValidationError as exc:
                connect_form.add_error(None, exc)
            else:
                messages.success(request, f"Connected to {conn.get_provider_display()}. The first sync is on its way.")
                sync_soon(connection=conn, full=True)
                return redirect(reverse("sync:settings", args=[request.workspace.slug]))
        status = 422
    elif request.method == "POST":
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
        "connect_form": connect_form,
        "oauth_form": SalesforceOAuthForm(),
        "oauth_ready": bool(settings.SYNC_SALESFORCE_CLIENT_ID),
        "hubspot_oauth_form": HubSpotOAuthForm(prefix="hubspot"),
        "hubspot_oauth_ready": bool(settings.SYNC_HUBSPOT_CLIENT_ID),
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


OAUTH_SESSION_KEY = "sync_oauth"


def _callback_url() -> str:
    return settings.SITE_URL.rstrip("/") + reverse("sync_oauth_callback")


def _oauth_begin(request: WorkspaceRequest, provider: Provider, base_url: str) -> str:
    """A one-time state tied to this session, workspace and CRM, for the callback to check."""
    state = secrets.token_urlsafe(24)
    request.session[OAUTH_SESSION_KEY] = {
        "state": state,
        "slug": request.workspace.slug,
        "base_url": base_url or DEFAULT_BASE_URL[provider],
        "provider": provider.value,
    }
    return state


@require_POST
@workspace_view()
def oauth_start(request: WorkspaceRequest) -> HttpResponse:
    """ "Connect Salesforce": off to Salesforce's consent page with a one-time state tied to this workspace."""
    require_admin(request.membership)
    form = SalesforceOAuthForm(request.POST)
    if not settings.SYNC_SALESFORCE_CLIENT_ID or not form.is_valid():
        messages.error(request, "The Salesforce app is not configured (SYNC_SALESFORCE_CLIENT_ID) or the URL is wrong.")
        return redirect(reverse("sync:settings", args=[request.workspace.slug]))
    state = _oauth_begin(request, Provider.SALESFORCE, form.cleaned_data["base_url"])
    url = authorize_url(
        base_url=request.session[OAUTH_SESSION_KEY]["base_url"],
        client_id=settings.SYNC_SALESFORCE_CLIENT_ID,
        redirect_uri=_callback_url(),
        state=state,
    )
    return redirect(url)


@require_POST
@workspace_view()
def oauth_start_hubspot(request: WorkspaceRequest) -> HttpResponse:
    """ "Connect HubSpot": off to HubSpot's install page for our app, with a one-time state tied to this workspace."""
    require_admin(request.membership)
    form = HubSpotOAuthForm(request.POST, prefix="hubspot")
    if not settings.SYNC_HUBSPOT_CLIENT_ID or not form.is_valid():
        messages.error(request, "The HubSpot app is not configured (SYNC_HUBSPOT_CLIENT_ID) or the URL is wrong.")
        return redirect(reverse("sync:settings", args=[request.workspace.slug]))
    url = hs_client.authorize_url(
        authorize=settings.SYNC_HUBSPOT_AUTHORIZE_URL,
        client_id=settings.SYNC_HUBSPOT_CLIENT_ID,
        redirect_uri=_callback_url(),
        scope=settings.SYNC_HUBSPOT_SCOPES,
        state=_oauth_begin(request, Provider.HUBSPOT, form.cleaned_data["base_url"]),
    )
    return redirect(url)


@require_GET
@login_required
def oauth_callback(request: HttpRequest) -> HttpResponse:
    """The CRM sends the admin back here with a code; the state must be the one this session started."""
    pending = request.session.pop(OAUTH_SESSION_KEY, None)
    if not pending or not secrets.compare_digest(str(request.GET.get("state", "")), pending["state"]):
        return HttpResponse(
            "This sign-in link is stale or was not started here; start again from the settings.", status=400
        )
    membership = get_membership_for_user(user=request.user, slug=pending["slug"])
    require_admin(membership)
    target = reverse("sync:settings", args=[pending["slug"]])
    hubspot = pending.get("provider") == Provider.HUBSPOT
    name = "HubSpot" if hubspot else "Salesforce"
    if request.GET.get("error"):
        messages.error(request, f"{name} said no: {request.GET.get('error_description') or request.GET['error']}")
        return redirect(target)
    try:
        conn = oauth_connect(
            workspace=membership.workspace,
            provider=Provider.HUBSPOT if hubspot else Provider.SALESFORCE,
            base_url=pending["base_url"],
            client_id=settings.SYNC_HUBSPOT_CLIENT_ID if hubspot else settings.SYNC_SALESFORCE_CLIENT_ID,
            client_secret=settings.SYNC_HUBSPOT_CLIENT_SECRET if hubspot else settings.SYNC_SALESFORCE_CLIENT_SECRET,
            code=str(request.GET.get("code", "")),
            redirect_uri=_callback_url(),
        )
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
        return redirect(target)
    sync_soon(connection=conn, full=True)
    messages.success(request, f"Connected to {name}. The first sync is on its way.")
    return redirect(target)
