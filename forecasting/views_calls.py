"""The weekly call's screens: the call page (submit, adjust, roll-ups), accuracy, the leaderboard, settings."""

from __future__ import annotations

from decimal import Decimal

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from forecasting import call_accuracy, calls, coverage, quota
from forecasting.forms_calls import CallForm, CallSettingsForm, PeriodForm
from vectoros.forms import apply_service_errors
from vectoros.http import WorkspaceRequest, workspace_view


def _period(request: WorkspaceRequest) -> tuple[PeriodForm, tuple]:
    form = PeriodForm(request.GET or None)
    return form, calls.current_period(request.workspace, form.day(request.workspace.today()))


def _calls_context(request: WorkspaceRequest, start, end, form: CallForm | None = None) -> dict[str, object]:
    overview = calls.calls_overview(request.scope, start, end)
    me = overview["me"]
    if form is None and request.membership.can_write:
        latest = me.latest if me else None
        hint = me.suggestion if me else calls.suggestion_for(request.membership, start, end)
        initial = (
            {"commit": latest.commit, "best_case": latest.best_case, "most_likely": latest.most_likely}
            if latest
            else {"commit": round(Decimal(hint["commit"])), "best_case": round(Decimal(hint["best_case"]))}
        )
        form = CallForm(
            scope=request.scope,
            adjustable=calls.adjustable_members(request.scope),
            initial={**initial, "period_start": start},
        )
    settings_row = calls.call_settings(request.workspace)
    overview["signal"] = call_accuracy.workspace_signal(request.workspace)
    return {**overview, "form": form, "settings": settings_row, "due_day": calls.WEEKDAYS[settings_row.due_weekday]}


@require_GET
@workspace_view()
def calls_page(request: WorkspaceRequest) -> HttpResponse:
    period_form, (start, end) = _period(request)
    context = _calls_context(request, start, end)
    context["period_form"] = period_form
    return render(request, "forecasting/calls.html", context)


@require_POST
@workspace_view(write=True)
def call_submit(request: WorkspaceRequest) -> HttpResponse:
    form = CallForm(request.POST, scope=request.scope, adjustable=calls.adjustable_members(request.scope))
    if form.is_valid():
        start, end = calls.current_period(request.workspace, form.cleaned_data["period_start"])
        member = form.cleaned_data["member"] or request.membership
        try:
            version = calls.call_submit(
                scope=request.scope,
                member=member,
                period_start=start,
                period_end=end,
                commit=form.cleaned_data["commit"],
                best_case=form.cleaned_data["best_case"],
                most_likely=form.cleaned_data["most_likely"],
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            who = "Your call" if version.member_id == request.membership.id else f"{member.display_name}'s call"
            messages.success(request, f"{who} saved (version {version.version}).")
            url = reverse("forecasting:calls", args=[request.workspace.slug])
            return redirect(f"{url}?on={start.isoformat()}")
    # The form comes back with its messages, on the period it was for (today's when that field was bad).
    start, end = calls.current_period(request.workspace, form.cleaned_data.get("period_start"))
    context = _calls_context(request, start, end, form=form)
    context["period_form"] = PeriodForm()
    return render(request, "forecasting/calls.html", context, status=422)


@require_GET
@workspace_view()
def calls_accuracy(request: WorkspaceRequest) -> HttpResponse:
    report = call_accuracy.accuracy_report(request.scope)
    return render(request, "forecasting/calls_accuracy.html", {"report": report})


@require_GET
@workspace_view()
def leaderboard(request: WorkspaceRequest) -> HttpResponse:
    period_form, (start, end) = _period(request)
    board = quota.leaderboard(request.scope, start, end)
    context = {
        "board": board,
        "period_form": period_form,
        "period_label": calls.period_label(request.workspace, start, end),
        "coverage_definition": coverage.COVERAGE_DEFINITION,
    }
    return render(request, "forecasting/leaderboard.html", context)


@require_http_methods(["GET", "POST"])
@workspace_view()
def call_settings(request: WorkspaceRequest) -> HttpResponse:
    current = calls.call_settings(request.workspace)
    initial = {"due_weekday": current.due_weekday, "due_time": current.due_time}
    form = CallSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if not request.membership.can_administer:
            raise PermissionDenied("Only owners and admins set when the call is due.")
        if form.is_valid():
            calls.call_settings_save(scope=request.scope, **form.cleaned_data)
            messages.success(request, "The call's due day is saved.")
            return redirect("forecasting:call_settings", slug=request.workspace.slug)
    return render(
        request,
        "forecasting/call_settings.html",
        {"form": form, "can_edit": request.membership.can_administer, "due_day": calls.WEEKDAYS[current.due_weekday]},
        status=422 if form.errors else 200,
    )
