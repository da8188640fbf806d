"""Company endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from ninja import Field, Query, Schema, Status
from pydantic import field_validator

from crm import services
from crm.api.common import (
    ERRORS,
    TAKEN,
    Page,
    Title,
    _get,
    _invalid,
    _key,
    _no_nul,
    _page,
    _ref,
    _short,
    router,
)
from crm.models import Company
from vectoros.apischema import Body, Conflict, PageOut, decimal_amount, drop_default
from vectoros.http import ApiRequest


# --- companies -----------------------------------------------------------------------------------
class CompanyOut(Schema):
    id: uuid.UUID = Field(alias="uuid")
    name: str
    domain: str
    industry: str
    employees: int | None
    annual_revenue: Decimal | None
    location: str
    parent: uuid.UUID | None
    attributes: dict[str, Any]
    external_id: str
    created_at: datetime

    @staticmethod
    def resolve_parent(obj: Company) -> uuid.UUID | None:
        return related.uuid if (related := obj.parent) is not None else None


class CompanyPage(PageOut):
    items: list[CompanyOut]


class CompanyPatch(Body):
    name: Title = Field(None, json_schema_extra=drop_default)  # type: ignore[assignment]  # absent, never null; may be left out, not null
    domain: _short(200) | None = None  # type: ignore[valid-type]
    industry: _short(100) | None = None  # type: ignore[valid-type]
    employees: Annotated[int, Field(ge=0, le=2_000_000_000)] | None = None
    annual_revenue: decimal_amount(digits=16) | None = None  # type: ignore[valid-type]
    location: _short(120) | None = None  # type: ignore[valid-type]
    parent: uuid.UUID | None = None
    attributes: dict[str, Any] | None = None
    external_id: _short(255) | None = None  # type: ignore[valid-type]

    _check_attributes = field_validator("attributes")(_no_nul)


class CompanyIn(CompanyPatch):
    name: Title


def _companies(request: ApiRequest) -> QuerySet:
    return Company.objects.for_workspace(_key(request).workspace_id).select_related("parent")


def _company_fields(request: ApiRequest, payload: CompanyPatch, company: Company | None) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in payload.model_fields_set:
        value = getattr(payload, name)
        if name == "parent":
            parent = _ref(Company, request, value, "parent")
            if parent is not None and company is not None and parent.pk == company.pk:
                raise Conflict("a company cannot be its own parent", loc=["body", "parent"])
            fields["parent"] = parent
            continue
        if value is None and name in {"name", "domain", "industry", "location", "external_id"}:
            value = ""
        if value is None and name == "attributes":
            value = {}
        fields[name] = value
    external_id = fields.get("external_id")
    others = _companies(request).exclude(pk=company.pk) if company else _companies(request)
    if external_id and others.filter(external_id=external_id).exists():
        raise Conflict(f"external_id: {TAKEN}", loc=["body", "external_id"])
    return fields


@router.get("/companies/", response={200: CompanyPage, **ERRORS})
def companies_list(
    request: ApiRequest, page: Query[Page], q: Annotated[str, Field(max_length=200, pattern=r"^[^\x00]*$")] = ""
) -> Any:
    companies = _companies(request)
    if q:
        companies = companies.filter(Q(name__icontains=q) | Q(domain__icontains=q))
    return _page(request, companies.order_by("name", "id"), page)


@router.get("/companies/{company_id}/", response={200: CompanyOut, **ERRORS})
def companies_get(request: ApiRequest, company_id: uuid.UUID) -> Any:
    return _get(_companies(request), request, company_id, "company")


@router.post("/companies/", response={201: CompanyOut, **ERRORS})
def companies_create(request: ApiRequest, payload: CompanyIn) -> Any:
    fields = _company_fields(request, payload, None)
    try:
        company = services.company_save(workspace=_key(request).workspace, **fields)
    except ValidationError as exc:
        raise _invalid(exc) from None
    return Status(201, _companies(request).get(pk=company.pk))


@router.patch("/companies/{company_id}/", response={200: CompanyOut, **ERRORS})
def companies_update(request: ApiRequest, company_id: uuid.UUID, payload: CompanyPatch) -> Any:
    company = _get(_companies(request), request, company_id, "company")
    fields = _company_fields(request, payload, company)
    try:
        services.company_save(workspace=_key(request).workspace, company=company, **fields)
    except ValidationError as exc:
        raise _invalid(exc) from None
    return _companies(request).get(pk=company.pk)


@router.delete("/companies/{company_id}/", response={204: None, **ERRORS})
def companies_delete(request: ApiRequest, company_id: uuid.UUID) -> Any:
    services.company_delete(company=_get(_companies(request), request, company_id, "company"))
    return Status(204, None)
