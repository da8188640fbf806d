"""Data pages of a workspace: CSV exports (import page and API keys: see the report, not built yet)."""

from __future__ import annotations

from django import forms
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.views.decorators.http import require_GET

from crm import exports
from crm.models import Activity, Company, Contact, Deal, Outcome
from vectoros.http import WorkspaceRequest, workspace_view


class DealFilterForm(forms.Form):
    owner = forms.UUIDField(required=False)
    stage = forms.UUIDField(required=False)
    outcome = forms.ChoiceField(required=False, choices=[("", "any"), *Outcome.choices])
    q = forms.CharField(required=False, max_length=200)


def _stream(name: str, header: list[str], rows) -> StreamingHttpResponse:
    response = StreamingHttpResponse(exports.csv_lines(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


@require_GET
@workspace_view()
def export_deals(request: WorkspaceRequest) -> StreamingHttpResponse | HttpResponseBadRequest:
    form = DealFilterForm(request.GET)
    if not form.is_valid():
        return HttpResponseBadRequest("Invalid filter: " + "; ".join(f"{k}: {v[0]}" for k, v in form.errors.items()))
    deals = exports.filter_deals(Deal.objects.visible_to(request.membership), **form.cleaned_data)
    return _stream(f"{request.workspace.slug}-deals", exports.DEAL_HEADER, exports.deal_rows(deals))


@require_GET
@workspace_view()
def export_companies(request: WorkspaceRequest) -> StreamingHttpResponse:
    companies = Company.objects.for_workspace(request.workspace)
    return _stream(f"{request.workspace.slug}-companies", exports.COMPANY_HEADER, exports.company_rows(companies))


@require_GET
@workspace_view()
def export_contacts(request: WorkspaceRequest) -> StreamingHttpResponse:
    contacts = Contact.objects.for_workspace(request.workspace)
    return _stream(f"{request.workspace.slug}-contacts", exports.CONTACT_HEADER, exports.contact_rows(contacts))


@require_GET
@workspace_view()
def export_activities(request: WorkspaceRequest) -> StreamingHttpResponse:
    activities = Activity.objects.for_workspace(request.workspace)
    if not request.membership.sees_everything:
        activities = activities.filter(deal__in=Deal.objects.visible_to(request.membership))
    return _stream(f"{request.workspace.slug}-activities", exports.ACTIVITY_HEADER, exports.activity_rows(activities))
