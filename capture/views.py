"""Capture screens: a member's connections (connect IMAP / CalDAV, status, disconnect), the captures waiting for
the rep to choose a deal, contact suggestions, the workspace policy (admins), and the deal page's panel."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from capture import oauth, providers, selectors, services
from capture.forms import AssignForm, CalDavForm, DisconnectForm, ImapForm, PolicyForm
from capture.models import (
    CalendarConnection,
    CapturedEvent,
    CapturedMessage,
    ConnectionStatus,
    ContactSuggestion,
    MailboxConnection,
)
from crm.models import Deal
from tenancy.access import get_membership_for_user, parse_uuid, require_admin
from vectoros.http import WorkspaceRequest, render_screen, workspace_view


def _render(request: WorkspaceRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    return render_screen(request, template, {"can_write": request.membership.can_write, **context}, status=status)


def _home(request: WorkspaceRequest, name: str = "capture:connections") -> HttpResponse:
    return redirect(reverse(name, args=[request.workspace.slug]))


@require_http_methods(["GET", "POST"])
@workspace_view()
def connections(request: WorkspaceRequest) -> HttpResponse:
    """The signed-in member's own mailboxes and calendars."""
    action = request.POST.get("action") if request.method == "POST" else None
    imap_form = ImapForm(request.POST if action == "imap" else None, prefix="imap")
    caldav_form = CalDavForm(request.POST if action == "caldav" else None, prefix="caldav")
    status = 200
    if action == "imap" and imap_form.is_valid():
        try:
            services.mailbox_connect(
                workspace=request.workspace, member=request.membership, imap_url=imap_form.imap_url()
            )
            messages.success(request, "Mailbox connected: capture reads it every few minutes.")
            return _home(request)
        except ValidationError as exc:
            imap_form.add_error(None, " ".join(exc.messages))
    elif action == "caldav" and caldav_form.is_valid():
        try:
            services.calendar_connect(
                workspace=request.workspace, member=request.membership, **caldav_form.cleaned_data
            )
            messages.success(request, "Calendar connected.")
            return _home(request)
        except ValidationError as exc:
            caldav_form.add_error(None, " ".join(exc.messages))
    if action and (imap_form.errors or caldav_form.errors or action not in {"imap", "caldav"}):
        status = 400
    mailboxes, calendars = selectors.connections_for_member(request.membership)
    context = {
        "mailboxes": mailboxes,
        "calendars": calendars,
        "imap_form": imap_form,
        "caldav_form": caldav_form,
        "disconnect_form": DisconnectForm(),
        "oauth_configured": [p for p in oauth.LABELS if providers.configured(p)],
        "oauth_buttons": [
            (oauth.GOOGLE, ("Connect Gmail", "Connect Google Calendar")),
            (oauth.MICROSOFT, ("Connect Microsoft 365 mail", "Connect Microsoft 365 calendar")),
        ],
    }
    return _render(request, "capture/connections.html", context, status=status)


@require_POST
@workspace_view()
def disconnect(request: WorkspaceRequest, kind: str, connection_uuid: str) -> HttpResponse:
    model: type[MailboxConnection] | type[CalendarConnection]
    if kind == "mailbox":
        model = MailboxConnection
    elif kind == "calendar":
        model = CalendarConnection
    else:
        raise Http404("No such connection")
    connection: MailboxConnection | CalendarConnection | None = (
        model.objects.for_workspace(request.workspace)
        .filter(uuid=parse_uuid(connection_uuid), member=request.membership)
        .exclude(status=ConnectionStatus.DISCONNECTED)
        .first()
    )
    if connection is None:
        raise Http404("No such connection")
    form = DisconnectForm(request.POST)
    delete = form.is_valid() and form.cleaned_data["delete_captured"]
    deleted = services.connection_disconnect(connection=connection, delete_captured=delete)
    messages.success(request, f"Disconnected; {deleted} captured item(s) deleted." if delete else "Disconnected.")
    return _home(request)


@require_GET
@workspace_view()
def inbox(request: WorkspaceRequest) -> HttpResponse:
    """Captures waiting for the rep to choose a deal (the company has several open deals), and suggestions."""
    waiting, meetings = selectors.unassigned_for_member(request.membership)
    company_ids = {m.company_id for m in waiting if m.company_id} | {e.company_id for e in meetings if e.company_id}
    deals = selectors.open_deals_by_company(request.workspace, request.scope.deals(), company_ids)
    rows = [(m, deals.get(m.company_id or 0, [])) for m in waiting]
    meeting_rows = [(e, deals.get(e.company_id or 0, [])) for e in meetings]
    context = {"rows": rows, "meeting_rows": meeting_rows, "suggestions": selectors.suggestions(request.workspace)}
    return _render(request, "capture/inbox.html", context)


def _captured(request: WorkspaceRequest, kind: str, item_uuid: str) -> CapturedMessage | CapturedEvent:
    model: type[CapturedMessage] | type[CapturedEvent]
    if kind == "message":
        model = CapturedMessage
    elif kind == "meeting":
        model = CapturedEvent
    else:
        raise Http404("No such capture")
    queryset = model.objects.for_workspace(request.workspace).filter(uuid=parse_uuid(item_uuid))
    if not request.membership.can_administer:
        queryset = queryset.filter(member=request.membership)
    item = queryset.first()
    if item is None:
        raise Http404("No such capture")
    return item


@require_POST
@workspace_view()
def assign(request: WorkspaceRequest, kind: str, item_uuid: str) -> HttpResponse:
    item = _captured(request, kind, item_uuid)
    form = AssignForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a deal.")
        return _home(request, "capture:inbox")
    deal = request.scope.get(Deal, form.cleaned_data["deal"])
    try:
        services.capture_assign(item=item, deal=deal, actor=request.membership)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return _home(request, "capture:inbox")
    messages.success(request, f"Attached to {deal.title}.")
    return _home(request, "capture:inbox")


@require_POST
@workspace_view()
def suggestion(request: WorkspaceRequest, suggestion_uuid: str, action: str) -> HttpResponse:
    found = (
        ContactSuggestion.objects.for_workspace(request.workspace)
        .filter(uuid=parse_uuid(suggestion_uuid), dismissed=False)
        .first()
    )
    if found is None or action not in {"accept", "dismiss"}:
        raise Http404("No such suggestion")
    if action == "accept":
        contact = services.suggestion_accept(suggestion=found, actor=request.membership)
        messages.success(request, f"Contact {contact.email} created at {found.company.name}.")
    else:
        services.suggestion_dismiss(suggestion=found, actor=request.membership)
        messages.success(request, f"{found.email} will not be suggested again.")
    return _home(request, "capture:inbox")


@require_http_methods(["GET", "POST"])
@workspace_view()
def policy(request: WorkspaceRequest) -> HttpResponse:
    require_admin(request.membership)
    form = PolicyForm(request.POST or None, instance=services.policy_get(workspace=request.workspace))
    if request.method == "POST" and form.is_valid():
        services.policy_save(workspace=request.workspace, **form.cleaned_data)
        messages.success(request, "Capture policy saved.")
        return _home(request, "capture:policy")
    return _render(request, "capture/policy.html", {"form": form}, status=400 if form.errors else 200)


@require_GET
@workspace_view()
def deal_panel(request: WorkspaceRequest, deal_uuid: str) -> HttpResponse:
    deal = request.scope.get(Deal, deal_uuid)
    return _render(request, "capture/deal_panel.html", {"deal": deal, "signals": selectors.deal_signals(deal)})


OAUTH_SESSION_KEY = "capture_oauth"


def _callback_url() -> str:
    return settings.SITE_URL.rstrip("/") + reverse("capture_oauth_callback")


@require_POST
@workspace_view()
def oauth_start(request: WorkspaceRequest, provider: str, target: str) -> HttpResponse:
    """ "Connect Gmail / Google Calendar / Microsoft 365": off to the provider's consent page, with a one-time state
    and a PKCE verifier kept in this session for the callback."""
    if provider not in oauth.LABELS or target not in (oauth.MAIL, oauth.CALENDAR):
        raise Http404("No such provider")
    if not request.membership.can_write:
        raise PermissionDenied
    if not providers.configured(provider):
        messages.error(request, f"The {oauth.LABELS[provider]} app is not configured on this server.")
        return _home(request)
    state = secrets.token_urlsafe(24)
    verifier, challenge = oauth.pkce_pair()
    request.session[OAUTH_SESSION_KEY] = {
        "state": state,
        "verifier": verifier,
        "slug": request.workspace.slug,
        "provider": provider,
        "target": target,
    }
    config = providers.provider_settings(provider, target)
    url = oauth.authorize_url(
        provider=provider,
        authorize=config["authorize"],
        client_id=config["client_id"],
        redirect_uri=_callback_url(),
        scopes=oauth.SCOPES[(provider, target)],
        state=state,
        challenge=challenge,
    )
    return redirect(url)


@require_GET
@login_required
def oauth_callback(request: HttpRequest) -> HttpResponse:
    """The provider sends the member back here with a code; the state must be the one this session started."""
    pending = request.session.pop(OAUTH_SESSION_KEY, None)
    if not pending or not secrets.compare_digest(str(request.GET.get("state", "")), str(pending["state"])):
        return HttpResponse(
            "This sign-in link is stale or was not started here; start again from your settings.", status=400
        )
    membership = get_membership_for_user(user=request.user, slug=pending["slug"])
    target = reverse("capture:connections", args=[pending["slug"]])
    name = oauth.LABELS[pending["provider"]]
    if request.GET.get("error"):
        messages.error(request, f"{name} said no: {request.GET.get('error_description') or request.GET['error']}")
        return redirect(target)
    try:
        connection = services.oauth_connect(
            member=membership,
            provider=pending["provider"],
            target=pending["target"],
            code=str(request.GET.get("code", "")),
            verifier=pending["verifier"],
            redirect_uri=_callback_url(),
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(target)
    what = "mailbox" if pending["target"] == oauth.MAIL else "calendar"
    address = getattr(connection, "address", "") or connection.settings.get("address", "")
    messages.success(request, f"{name} {what} {address} connected: capture reads it every few minutes.")
    return redirect(target)
