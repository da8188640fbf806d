"""Companies and contacts: lists with search, detail pages, create and edit."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm import services
from crm.forms import CompanyForm, ContactForm, SearchForm
from crm.models import Company, Contact
from crm.selectors import (
    company_list_for_member,
    contact_list_for_workspace,
    record_timeline_for_member,
)
from tenancy.access import get_in_workspace, require_admin
from vectoros.forms import apply_service_errors
from vectoros.http import WorkspaceRequest, render_screen, workspace_view

PER_PAGE = 50


def _search(request: WorkspaceRequest) -> tuple[SearchForm, str, int]:
    form = SearchForm(request.GET)
    if form.is_valid():
        return form, form.cleaned_data.get("q") or "", form.cleaned_data.get("page") or 1
    return form, "", 1


def _paged(request: WorkspaceRequest, items: Any, page_number: int) -> dict[str, Any]:
    paginator = Paginator(items, PER_PAGE)
    query = request.GET.copy()
    query.pop("page", None)
    return {"page": paginator.get_page(page_number), "total": paginator.count, "query": query.urlencode()}


@require_GET
@workspace_view()
def company_list(request: WorkspaceRequest) -> HttpResponse:
    form, q, page_number = _search(request)
    context = {"form": form, **_paged(request, company_list_for_member(request.scope, q=q), page_number)}
    return render_screen(request, "crm/company_list.html", context, partial="results")


@require_GET
@workspace_view()
def company_detail(request: WorkspaceRequest, company_uuid: str) -> HttpResponse:
    company = request.scope.get(Company, company_uuid)
    timeline = record_timeline_for_member(request.scope, lookup="company", record=company)
    context = {
        "company": company,
        "deals": timeline.deals,
        "contacts": company.contacts.order_by("last_name", "first_name")[:100],
        "activities": timeline.activities,
    }
    return render_screen(request, "crm/company_detail.html", context)


def _save(
    request: WorkspaceRequest, form: CompanyForm | ContactForm, save: Any, instance_kw: str, instance: Any
) -> Any:
    if request.method != "POST" or not form.is_valid():
        return None
    fields = {name: form.cleaned_data[name] for name in form.fields}
    try:
        return save(workspace=request.workspace, **{instance_kw: instance}, **fields)
    except ValidationError as exc:
        apply_service_errors(form, exc)
        return None


@require_http_methods(["GET", "POST"])
@workspace_view()
def company_form(request: WorkspaceRequest, company_uuid: str | None = None) -> HttpResponse:
    company = request.scope.get(Company, company_uuid) if company_uuid else None
    form = CompanyForm(request.POST or None, instance=company, workspace=request.workspace)
    if company is not None and company.owner is not None and not form.is_bound:
        form.initial["owner"] = company.owner.uuid
    saved = _save(request, form, services.company_save, "company", company)
    if saved is not None:
        messages.success(request, f"{saved.name} saved.")
        return redirect("crm:company_detail", request.workspace.slug, saved.uuid)
    status = 422 if form.errors else 200
    return render_screen(
        request, "crm/record_form.html", {"form": form, "object": company, "kind": "company"}, status=status
    )


@require_GET
@workspace_view()
def contact_list(request: WorkspaceRequest) -> HttpResponse:
    form, q, page_number = _search(request)
    context = {"form": form, **_paged(request, contact_list_for_workspace(request.workspace, q=q), page_number)}
    return render_screen(request, "crm/contact_list.html", context, partial="results")


@require_GET
@workspace_view()
def contact_detail(request: WorkspaceRequest, contact_uuid: str) -> HttpResponse:
    contact = request.scope.get(Contact, contact_uuid)
    timeline = record_timeline_for_member(request.scope, lookup="contacts", record=contact)
    context = {"contact": contact, "deals": timeline.deals, "activities": timeline.activities}
    return render_screen(request, "crm/contact_detail.html", context)


@require_http_methods(["GET", "POST"])
@workspace_view()
def contact_form(request: WorkspaceRequest, contact_uuid: str | None = None) -> HttpResponse:
    contact = request.scope.get(Contact, contact_uuid) if contact_uuid else None
    form = ContactForm(request.POST or None, instance=contact, workspace=request.workspace)
    if contact is not None and contact.company is not None and not form.is_bound:
        form.initial["company"] = contact.company.uuid
    saved = _save(request, form, services.contact_save, "contact", contact)
    if saved is not None:
        messages.success(request, f"{saved.full_name} saved.")
        return redirect("crm:contact_detail", request.workspace.slug, saved.uuid)
    status = 422 if form.errors else 200
    return render_screen(
        request, "crm/record_form.html", {"form": form, "object": contact, "kind": "contact"}, status=status
    )


@require_POST
@workspace_view()
def company_delete(request: WorkspaceRequest, company_uuid: str) -> HttpResponse:
    """Admins only: every team's deals, contacts and activities on the company lose it."""
    require_admin(request.membership)
    company = get_in_workspace(Company, request.workspace, company_uuid)
    services.company_delete(company=company)
    messages.success(request, f"{company.name} deleted; its deals and contacts are kept without a company.")
    return redirect("crm:company_list", request.workspace.slug)


@require_POST
@workspace_view()
def contact_delete(request: WorkspaceRequest, contact_uuid: str) -> HttpResponse:
    """Admins only: the contact is on deals and activities of every team."""
    require_admin(request.membership)
    contact = get_in_workspace(Contact, request.workspace, contact_uuid)
    services.contact_delete(contact=contact)
    messages.success(request, f"{contact.full_name} deleted.")
    return redirect("crm:contact_list", request.workspace.slug)
