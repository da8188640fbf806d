"""Contact endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from ninja import Field, Query, Schema, Status

from crm import services
from crm.api.common import (
    ERRORS,
    TAKEN,
    Page,
    _get,
    _invalid,
    _key,
    _page,
    _ref,
    _short,
    router,
)
from crm.models import Company, Contact
from vectoros.apischema import Body, Conflict, PageOut, drop_default
from vectoros.http import ApiRequest


# --- contacts ------------------------------------------------------------------------------------
class ContactOut(Schema):
    id: uuid.UUID = Field(alias="uuid")
    first_name: str
    last_name: str
    email: str
    phone: str
    title: str
    company: uuid.UUID | None
    external_id: str
    created_at: datetime

    @staticmethod
    def resolve_company(obj: Contact) -> uuid.UUID | None:
        return related.uuid if (related := obj.company) is not None else None


class ContactPage(PageOut):
    items: list[ContactOut]


# What Django's EmailValidator takes, in ASCII: a dot-atom, then host labels and a letters-only top-level domain.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
Email = Annotated[
    str,
    Field(
        max_length=254,
        pattern=rf"^{_ATOM}(\.{_ATOM})*@([A-Za-z0-9]([A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.)+[A-Za-z]{{2,63}}$",
    ),
]


class ContactPatch(Body):
    first_name: _short(100) | None = None  # type: ignore[valid-type]
    last_name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00]*\S[^\x00]*$")] = Field(  # type: ignore[assignment]  # absent, never null
        None, json_schema_extra=drop_default
    )  # may be left out, not null
    email: Email | None = None
    phone: _short(50) | None = None  # type: ignore[valid-type]
    title: _short(150) | None = None  # type: ignore[valid-type]
    company: uuid.UUID | None = None
    external_id: _short(255) | None = None  # type: ignore[valid-type]


class ContactIn(ContactPatch):
    last_name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00]*\S[^\x00]*$")]


def _contacts(request: ApiRequest) -> QuerySet:
    return Contact.objects.for_workspace(_key(request).workspace_id).select_related("company")


def _contact_fields(request: ApiRequest, payload: ContactPatch, contact: Contact | None) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in payload.model_fields_set:
        value = getattr(payload, name)
        if name == "company":
            fields["company"] = _ref(Company, request, value, "company")
            continue
        fields[name] = "" if value is None else value
    external_id = fields.get("external_id")
    others = _contacts(request).exclude(pk=contact.pk) if contact else _contacts(request)
    if external_id and others.filter(external_id=external_id).exists():
        raise Conflict(f"external_id: {TAKEN}", loc=["body", "external_id"])
    return fields


@router.get("/contacts/", response={200: ContactPage, **ERRORS})
def contacts_list(
    request: ApiRequest,
    page: Query[Page],
    q: Annotated[str, Field(max_length=200, pattern=r"^[^\x00]*$")] = "",
    company: uuid.UUID | None = None,
) -> Any:
    contacts = _contacts(request)
    if q:
        contacts = contacts.filter(Q(last_name__icontains=q) | Q(first_name__icontains=q) | Q(email__icontains=q))
    if company:
        contacts = contacts.filter(company__uuid=company)
    return _page(request, contacts.order_by("last_name", "first_name", "id"), page)


@router.get("/contacts/{contact_id}/", response={200: ContactOut, **ERRORS})
def contacts_get(request: ApiRequest, contact_id: uuid.UUID) -> Any:
    return _get(_contacts(request), request, contact_id, "contact")


@router.post("/contacts/", response={201: ContactOut, **ERRORS})
def contacts_create(request: ApiRequest, payload: ContactIn) -> Any:
    fields = _contact_fields(request, payload, None)
    try:
        contact = services.contact_save(workspace=_key(request).workspace, **fields)
    except ValidationError as exc:
        raise _invalid(exc) from None
    return Status(201, _contacts(request).get(pk=contact.pk))


@router.patch("/contacts/{contact_id}/", response={200: ContactOut, **ERRORS})
def contacts_update(request: ApiRequest, contact_id: uuid.UUID, payload: ContactPatch) -> Any:
    contact = _get(_contacts(request), request, contact_id, "contact")
    fields = _contact_fields(request, payload, contact)
    try:
        services.contact_save(workspace=_key(request).workspace, contact=contact, **fields)
    except ValidationError as exc:
        raise _invalid(exc) from None
    return _contacts(request).get(pk=contact.pk)


@router.delete("/contacts/{contact_id}/", response={204: None, **ERRORS})
def contacts_delete(request: ApiRequest, contact_id: uuid.UUID) -> Any:
    services.contact_delete(contact=_get(_contacts(request), request, contact_id, "contact"))
    return Status(204, None)
