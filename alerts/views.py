"""Alert screens: the list (HTMX), the nav badge, a deal's panel, relevance, preferences and settings."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from alerts import selectors, services
from alerts.forms import (
    AlertFilterForm,
    AlertSettingsForm,
    DismissForm,
    PreferenceForm,
    SnoozeForm,
    WebhookEndpointForm,
)
from alerts.links import deal_path
from alerts.models import Alert, DigestFrequency, NotificationPreference, Priority, WebhookEndpoint
from crm.models import Deal
from tenancy.access import parse_uuid, require_admin
from vectoros.http import WorkspaceRequest, render_screen, workspace_view

PAGE_SIZE = 100


def _render(
    request: WorkspaceRequest, template: str, context: dict[str, Any], partial: str | None = None, status: int = 200
) -> HttpResponse:
    context = {"can_write": request.membership.can_write, **context}
    return render_screen(request, template, context, partial=partial, status=status)


def _rows(request: WorkspaceRequest, alerts: list[Alert]) -> list[dict[str, Any]]:
    slug = request.workspace.slug
    return [{"alert": a, "deal_url": deal_path(slug, a.deal.uuid) if a.deal else None} for a in alerts]


@require_GET
@workspace_view()
def alert_list(request: WorkspaceRequest) -> HttpResponse:
    form = AlertFilterForm(request.GET or None)
    filters: dict[str, Any] = {"status": "attention", "kind": "", "min_priority": None}
    status = 200
    if form.is_bound:
        if form.is_valid():
            filters = {
                "status": form.cleaned_data["status"] or "attention",
                "kind": form.cleaned_data["kind"],
                "min_priority": form.cleaned_data["priority"],
            }
        else:
            status = 400
    qs = selectors.alerts_for_member(request.scope, today=request.workspace.today(), **filters)
    alerts = list(qs[:PAGE_SIZE])
    context = {"form": form, "rows": _rows(request, alerts), "total": qs.count(), "snooze_form": SnoozeForm()}
    return _render(request, "alerts/list.html", context, partial="results", status=status)


@require_GET
@workspace_view()
def badge(request: WorkspaceRequest) -> HttpResponse:
    counts = selectors.badge_counts(request.scope, today=request.workspace.today())
    return render(request, "alerts/badge.html", {"counts": counts})


@require_GET
@workspace_view()
def deal_panel(request: WorkspaceRequest, deal_uuid: str) -> HttpResponse:
    deal = request.scope.get(Deal, deal_uuid)
    alerts = list(selectors.deal_alerts(deal).select_related("deal"))
    return _render(request, "alerts/deal_panel.html", {"deal": deal, "rows": _rows(request, alerts)})


def _after_action(request: WorkspaceRequest, alert: Alert, message: str) -> HttpResponse:
    if request.htmx:
        alert.refresh_from_db()
        return _render(request, "alerts/list.html", {"row": _rows(request, [alert])[0]}, partial="alert-row")
    messages.success(request, message)
    return redirect(reverse("alerts:list", args=[request.workspace.slug]))


@require_POST
@workspace_view()
def acknowledge(request: WorkspaceRequest, alert_uuid: str) -> HttpResponse:
    alert = selectors.get_alert_for_member(request.scope, parse_uuid(alert_uuid))
    try:
        services.alert_acknowledge(alert=alert, actor=request.membership)
    except ValidationError as exc:
        return HttpResponse(" ".join(exc.messages), status=409)
    return _after_action(request, alert, "Alert acknowledged.")


@require_POST
@workspace_view()
def snooze(request: WorkspaceRequest, alert_uuid: str) -> HttpResponse:
    alert = selectors.get_alert_for_member(request.scope, parse_uuid(alert_uuid))
    form = SnoozeForm(request.POST)
    if not form.is_valid():
        return HttpResponse("Snooze: " + " ".join(str(e) for errs in form.errors.values() for e in errs), status=400)
    try:
        services.alert_snooze(alert=alert, actor=request.membership, until=form.cleaned_data["until"])
    except ValidationError as exc:
        return HttpResponse(" ".join(exc.messages), status=409)
    return _after_action(request, alert, f"Alert snoozed until {form.cleaned_data['until']:%d %b %Y}.")


@require_POST
@workspace_view()
def dismiss(request: WorkspaceRequest, alert_uuid: str) -> HttpResponse:
    alert = selectors.get_alert_for_member(request.scope, parse_uuid(alert_uuid))
    form = DismissForm(request.POST)
    if not form.is_valid():
        return HttpResponse("Dismiss: feedback is too long.", status=400)
    try:
        services.alert_dismiss(
            alert=alert,
            actor=request.membership,
            not_useful=form.cleaned_data["not_useful"],
            feedback=form.cleaned_data["feedback"],
        )
    except ValidationError as exc:
        return HttpResponse(" ".join(exc.messages), status=409)
    return _after_action(request, alert, "Alert dismissed. Thank you for the feedback.")


@require_GET
@workspace_view()
def relevance(request: WorkspaceRequest) -> HttpResponse:
    until = timezone.now()
    since = until - timedelta(days=90)
    rows = selectors.relevance_by_kind(request.workspace, since=since, until=until)
    calibration, backtests = selectors.backtest_by_kind(request.workspace)
    return _render(
        request,
        "alerts/relevance.html",
        {"rows": rows, "since": since, "until": until, "calibration": calibration, "backtests": backtests},
    )


@require_http_methods(["GET", "POST"])
@workspace_view()
def preferences(request: WorkspaceRequest) -> HttpResponse:
    pref = NotificationPreference.objects.filter(membership=request.membership).first()
    initial = {
        "digest": pref.digest if pref else DigestFrequency.WEEKLY,
        "min_priority": pref.min_priority if pref else Priority.MEDIUM,
    }
    form = PreferenceForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        services.notification_preference_save(membership=request.membership, **form.cleaned_data)
        messages.success(request, "Notification preferences saved.")
        return redirect(reverse("alerts:preferences", args=[request.workspace.slug]))
    return _render(request, "alerts/preferences.html", {"form": form}, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@workspace_view()
def workspace_settings(request: WorkspaceRequest) -> HttpResponse:
    require_admin(request.membership)
    row = services.alert_settings_get(workspace=request.workspace)
    form = AlertSettingsForm(
        request.POST or None, initial=AlertSettingsForm.initial_for(services.thresholds_for(row), row)
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.alert_settings_save(
                workspace=request.workspace,
                thresholds={**row.thresholds, **{k: data[k] for k in AlertSettingsForm.THRESHOLD_FIELDS}},
                quarter_target=data["quarter_target"],
                slack_webhook_url=data["slack_webhook_url"],
                slack_enabled=data["slack_enabled"],
            )
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        else:
            messages.success(request, "Alert settings saved; the next monitor pass uses them.")
            return redirect(reverse("alerts:settings", args=[request.workspace.slug]))
    return _render(request, "alerts/settings.html", {"form": form}, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@workspace_view()
def webhooks(request: WorkspaceRequest) -> HttpResponse:
    require_admin(request.membership)
    form = WebhookEndpointForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        # The signing secret is shown on this response only: never put in a message, a cookie or the session.
        created = services.webhook_endpoint_create(workspace=request.workspace, **form.cleaned_data)
        form = WebhookEndpointForm()
    endpoints = WebhookEndpoint.objects.filter(workspace=request.workspace, is_active=True)
    context = {"form": form, "endpoints": endpoints, "created": created}
    return _render(request, "alerts/webhooks.html", context, status=400 if form.errors else 201 if created else 200)


@require_POST
@workspace_view()
def webhook_delete(request: WorkspaceRequest, endpoint_uuid: str) -> HttpResponse:
    require_admin(request.membership)
    endpoint = WebhookEndpoint.objects.filter(
        workspace=request.workspace, uuid=parse_uuid(endpoint_uuid), is_active=True
    ).first()
    if endpoint is None:
        raise Http404("No such endpoint")
    services.webhook_endpoint_delete(endpoint=endpoint)
    messages.success(request, "Endpoint removed.")
    return redirect(reverse("alerts:webhooks", args=[request.workspace.slug]))
