"""Alert screens: the list (HTMX, paginated, filtered, bulk actions), the nav badge, a deal's panel, relevance,
preferences and settings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from alerts import selectors, services
from alerts.forms import (
    AlertFilterForm,
    AlertSettingsForm,
    BulkActionForm,
    DismissForm,
    PreferenceForm,
    SnoozeForm,
    WebhookEndpointForm,
)
from alerts.links import deal_path
from alerts.models import Alert, DigestFrequency, NotificationPreference, Priority, WebhookEndpoint
from crm.models import Deal
from tenancy.access import parse_uuid, require_admin
from vectoros.http import WorkspaceRequest, render_screen, safe_next, workspace_view


def format_date(day: date) -> str:
    """Dates as every CRM page writes them: "Jun 4, 2026"."""
    return date_format(day, "M j, Y")


PAGE_SIZE = 25


def _render(
    request: WorkspaceRequest, template: str, context: dict[str, Any], partial: str | None = None, status: int = 200
) -> HttpResponse:
    context = {"can_write": request.membership.can_write, **context}
    return render_screen(request, template, context, partial=partial, status=status)


def _rows(request: WorkspaceRequest, alerts: list[Alert]) -> list[dict[str, Any]]:
    slug = request.workspace.slug
    return [{"alert": a, "deal_url": deal_path(slug, a.deal.uuid) if a.deal else None} for a in alerts]


def _list_context(request: WorkspaceRequest, params: QueryDict) -> tuple[dict[str, Any], int]:
    """The list page's context for these GET parameters (the filters, then the page), and its status."""
    form = AlertFilterForm(params or None, scope=request.scope)
    invalid = form.is_bound and not form.is_valid()
    qs = selectors.alerts_for_member(request.scope, today=request.workspace.today(), **form.filters())
    page = Paginator(qs, PAGE_SIZE).get_page(params.get("page"))
    query = params.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "rows": _rows(request, list(page.object_list)),
        "total": page.paginator.count,
        "query": query.urlencode(),
        "snooze_form": SnoozeForm(),
        "bulk_actions": BULK_ACTIONS,
    }
    return context, 400 if invalid else 200


BULK_ACTIONS = [
    ("acknowledge", "Acknowledge"),
    ("snooze", "Snooze until…"),
    ("dismiss", "Dismiss"),
    ("resolve", "Resolve"),
    ("reopen", "Reopen"),
]


@require_GET
@workspace_view()
def alert_list(request: WorkspaceRequest) -> HttpResponse:
    context, status = _list_context(request, request.GET)
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


def _back_to_list(request: WorkspaceRequest) -> str:
    return safe_next(request, reverse("alerts:list", args=[request.workspace.slug]))


def _after_action(request: WorkspaceRequest, alert: Alert, message: str) -> HttpResponse:
    if request.htmx:
        alert.refresh_from_db()
        return _render(request, "alerts/list.html", {"row": _rows(request, [alert])[0]}, partial="alert-row")
    messages.success(request, message)
    return redirect(_back_to_list(request))


def _refused(request: WorkspaceRequest, alert: Alert, reason: str) -> HttpResponse:
    """A refused response is said where the person looks: in the alert's own row (HTMX swaps only 2xx answers,
    so the row comes back with the reason), or above the list at 400 without HTMX."""
    if request.htmx:
        alert.refresh_from_db()
        row = {**_rows(request, [alert])[0], "error": reason}
        return _render(request, "alerts/list.html", {"row": row}, partial="alert-row")
    messages.error(request, reason)
    context, _ = _list_context(request, QueryDict(""))
    return _render(request, "alerts/list.html", context, status=400)


def _respond(request: WorkspaceRequest, alert_uuid: str, action: str, **kwargs: Any) -> HttpResponse:
    alert = selectors.get_alert_for_member(request.scope, parse_uuid(alert_uuid))
    if action == "snooze":
        form = SnoozeForm(request.POST)
        if not form.is_valid():
            reasons = " ".join(str(e) for errs in form.errors.values() for e in errs)
            return _refused(request, alert, f"Not snoozed: {reasons}")
        kwargs["until"] = form.cleaned_data["until"]
    elif action == "dismiss":
        dismiss_form = DismissForm(request.POST)
        if not dismiss_form.is_valid():
            return _refused(request, alert, "Not dismissed: the feedback is too long (500 characters at most).")
        kwargs.update(dismiss_form.cleaned_data)
    services_by_action: dict[str, Callable[..., Alert]] = {
        "acknowledge": services.alert_acknowledge,
        "snooze": services.alert_snooze,
        "dismiss": services.alert_dismiss,
        "resolve": services.alert_resolve,
        "reopen": services.alert_reopen,
    }
    try:
        services_by_action[action](alert=alert, actor=request.membership, **kwargs)
    except ValidationError as exc:
        return _refused(request, alert, " ".join(exc.messages))
    message = f"Alert {services.ALERT_ACTION_VERBS[action]}"
    if action == "snooze":
        message += f" until {format_date(kwargs['until'])}"
    elif action == "resolve":
        message += "; if its condition still holds, the next check raises it again"
    return _after_action(request, alert, message + ".")


@require_POST
@workspace_view()
def acknowledge(request: WorkspaceRequest, alert_uuid: str) -> HttpResponse:
    return _respond(request, alert_uuid, "acknowledge")


@require_POST
@workspace_view()
def snooze(request: WorkspaceRequest, alert_uuid: str) -> HttpResponse:
    return _respond(request, alert_uuid, "snooze")


@require_POST
@workspace_view()
def dismiss(request: WorkspaceRequest, alert_uuid: str) -> HttpResponse:
    return _respond(request, alert_uuid, "dismiss")


@require_POST
@workspace_view()
def resolve(request: WorkspaceRequest, alert_uuid: str) -> HttpResponse:
    return _respond(request, alert_uuid, "resolve")


@require_POST
@workspace_view()
def reopen(request: WorkspaceRequest, alert_uuid: str) -> HttpResponse:
    return _respond(request, alert_uuid, "reopen")


@require_POST
@workspace_view()
def bulk(request: WorkspaceRequest) -> HttpResponse:
    """One response to every ticked alert; what a single alert's status does not allow is skipped and said."""
    form = BulkActionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Nothing changed: " + " ".join(str(e) for errs in form.errors.values() for e in errs))
        return redirect(_back_to_list(request))
    action = form.cleaned_data["action"]
    alerts = list(
        Alert.objects.visible_to(request.scope).select_related("deal").filter(uuid__in=form.cleaned_data["alert"])
    )
    changed, skipped = services.alerts_respond(
        alerts=alerts, actor=request.membership, action=action, until=form.cleaned_data["until"]
    )
    verb = services.ALERT_ACTION_VERBS[action]
    text = f"{len(changed)} alert{pluralize(len(changed))} {verb}"
    if action == "snooze" and changed:
        text += f" until {format_date(form.cleaned_data['until'])}"
    if skipped:
        reasons = sorted({why for _, why in skipped})
        text += f"; {len(skipped)} skipped ({' '.join(reasons)})"
    (messages.success if changed else messages.warning)(request, text + ".")
    return redirect(_back_to_list(request))


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
