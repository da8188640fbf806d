"""REST endpoints of the crm app (mounted by vectoros.api at /api/v1/).

Everything happens inside the API key's workspace: another workspace's id is a 404, the same as an
id that does not exist. Deal writes go through crm.services, so they leave history with source "api".
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from ninja.errors import HttpError
from ninja.errors import ValidationError as Unprocessable
from pydantic import AfterValidator, field_validator

from crm import services
from crm.models import Activity, ChangeSource, Company, Contact, Deal, Pipeline, Stage
from tenancy.models import ApiKey, Membership

router = Router(tags=["crm"])

# Postgres refuses NUL characters in text; refusing them here makes them a 422, not a 500.
Text = Annotated[str, Field(pattern=r"^[^\x00]*$")]
Title = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00]*\S[^\x00]*$")]
Amount = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]
Percent = Annotated[Decimal, Field(ge=0, le=100, max_digits=5, decimal_places=2)]
Day = Annotated[date, Field(ge=date(1900, 1, 1), le=date(2200, 12, 31))]


def _as_utc(value: datetime) -> datetime:
    # Postgres refuses offsets beyond ±15:59 and naive times are ambiguous: store UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Moment = Annotated[datetime, Field(ge=datetime(1900, 1, 2), le=datetime(2200, 12, 30)), AfterValidator(_as_utc)]


def _no_nul(value: Any) -> Any:
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("text may not contain NUL characters")
    if isinstance(value, dict):
        for key, item in value.items():
            _no_nul(key)
            _no_nul(item)
    if isinstance(value, list):
        for item in value:
            _no_nul(item)
    return value


class Error(Schema):
    detail: Any


ERRORS: dict[int, type[Schema]] = {401: Error, 404: Error, 422: Error}


def _key(request: HttpRequest) -> ApiKey:
    return request.auth  # type: ignore[attr-defined,no-any-return]  # set by vectoros.api.ApiKeyAuth


def _actor(request: HttpRequest) -> Membership | None:
    return _key(request).created_by


def _get(queryset: QuerySet, request: HttpRequest, pk: uuid.UUID, what: str) -> Any:
    found = queryset.filter(workspace_id=_key(request).workspace_id, uuid=pk).first()
    if found is None:
        raise HttpError(404, f"No such {what}")
    return found


def _ref(model: type, request: HttpRequest, pk: uuid.UUID | None, field: str) -> Any:
    """A referenced object of this workspace, or a 422 naming the field."""
    if pk is None:
        return None
    found = model.objects.filter(workspace_id=_key(request).workspace_id, uuid=pk).first()
    if found is None:
        raise Unprocessable([{"loc": ["body", field], "msg": f"unknown {field} {pk}", "type": "value_error"}])
    return found


def _invalid(exc: ValidationError) -> Unprocessable:
    errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    return Unprocessable(
        [{"loc": ["body", field], "msg": " ".join(msgs), "type": "value_error"} for field, msgs in errors.items()]
    )


class Page(Schema):
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=1_000_000)


def _page(queryset: QuerySet, page: Page) -> dict[str, Any]:
    count = queryset.count()
    items = list(queryset[page.offset : page.offset + page.limit])
    following = page.offset + page.limit
    return {"count": count, "next_offset": following if following < count else None, "items": items}


# --- read-only: pipelines, stages, members ---------------------------------------------------------
class StageOut(Schema):
    id: uuid.UUID = Field(alias="uuid")
    name: str
    order: int
    kind: str
    default_probability: Decimal
    pipeline: uuid.UUID

    @staticmethod
    def resolve_pipeline(obj: Stage) -> uuid.UUID:
        return obj.pipeline.uuid


class PipelineOut(Schema):
    id: uuid.UUID = Field(alias="uuid")
    name: str
    is_default: bool
    stages: list[StageOut]

    @staticmethod
    def resolve_stages(obj: Pipeline) -> list[Stage]:
        return list(obj.stages.all())


class MemberOut(Schema):
    id: uuid.UUID = Field(alias="uuid")
    display_name: str
    role: str
    is_active: bool
    team: str | None
    has_login: bool

    @staticmethod
    def resolve_team(obj: Membership) -> str | None:
        return obj.team.name if obj.team_id else None

    @staticmethod
    def resolve_has_login(obj: Membership) -> bool:
        return obj.user_id is not None


@router.get("/pipelines/", response={200: list[PipelineOut], 401: Error})
def pipelines_list(request: HttpRequest) -> Any:
    return Pipeline.objects.for_workspace(_key(request).workspace_id).prefetch_related("stages__pipeline")


@router.get("/stages/", response={200: list[StageOut], 401: Error})
def stages_list(request: HttpRequest) -> Any:
    return Stage.objects.for_workspace(_key(request).workspace_id).select_related("pipeline")


class MemberPage(Schema):
    count: int
    next_offset: int | None
    items: list[MemberOut]


@router.get("/members/", response={200: MemberPage, **ERRORS})
def members_list(request: HttpRequest, page: Query[Page]) -> Any:
    members = Membership.objects.filter(workspace_id=_key(request).workspace_id).select_related("team")
    return _page(members.order_by("display_name", "id"), page)


# --- deals -------------------------------------------------------------------------------------------
class DealOut(Schema):
    id: uuid.UUID = Field(alias="uuid")
    title: str
    description: str
    amount: Decimal
    currency: str
    amount_is_estimated: bool
    probability: Decimal | None
    expected_close_date: date | None
    outcome: str
    pipeline: uuid.UUID
    stage: uuid.UUID
    owner: uuid.UUID | None
    company: uuid.UUID | None
    created_at: datetime
    closed_at: datetime | None
    updated_at: datetime
    source: str
    attributes: dict[str, Any]
    external_id: str

    @staticmethod
    def resolve_pipeline(obj: Deal) -> uuid.UUID:
        return obj.pipeline.uuid

    @staticmethod
    def resolve_stage(obj: Deal) -> uuid.UUID:
        return obj.stage.uuid

    @staticmethod
    def resolve_owner(obj: Deal) -> uuid.UUID | None:
        return obj.owner.uuid if obj.owner_id else None

    @staticmethod
    def resolve_company(obj: Deal) -> uuid.UUID | None:
        return obj.company.uuid if obj.company_id else None


class DealPage(Schema):
    count: int
    next_offset: int | None
    items: list[DealOut]


class DealFilters(Schema):
    owner: uuid.UUID | None = None
    stage: uuid.UUID | None = None
    company: uuid.UUID | None = None
    outcome: Literal["open", "won", "lost"] | None = None
    q: Annotated[str, Field(max_length=200, pattern=r"^[^\x00]*$")] | None = None
    updated_since: Moment | None = None


class DealPatch(Schema):
    title: Title | None = None
    description: Text | None = None
    stage: uuid.UUID | None = None
    amount: Amount | None = None
    amount_is_estimated: bool | None = None
    probability: Percent | None = None
    expected_close_date: Day | None = None
    owner: uuid.UUID | None = None
    company: uuid.UUID | None = None
    source: Annotated[str, Field(max_length=100, pattern=r"^[^\x00]*$")] | None = None
    attributes: dict[str, Any] | None = None
    external_id: Annotated[str, Field(max_length=255, pattern=r"^[^\x00]*$")] | None = None

    _check_attributes = field_validator("attributes")(_no_nul)


class DealIn(DealPatch):
    title: Title
    stage: uuid.UUID


def _deals(request: HttpRequest) -> QuerySet:
    return Deal.objects.for_workspace(_key(request).workspace_id).select_related(
        "pipeline", "stage", "owner", "company"
    )


@router.get("/deals/", response={200: DealPage, **ERRORS})
def deals_list(request: HttpRequest, filters: Query[DealFilters], page: Query[Page]) -> Any:
    deals = _deals(request)
    if filters.owner:
        deals = deals.filter(owner__uuid=filters.owner)
    if filters.stage:
        deals = deals.filter(stage__uuid=filters.stage)
    if filters.company:
        deals = deals.filter(company__uuid=filters.company)
    if filters.outcome:
        deals = deals.filter(outcome=filters.outcome)
    if filters.q:
        deals = deals.filter(Q(title__icontains=filters.q) | Q(company__name__icontains=filters.q))
    if filters.updated_since:
        deals = deals.filter(updated_at__gte=filters.updated_since)
    return _page(deals.order_by("-created_at", "id"), page)


@router.get("/deals/{deal_id}/", response={200: DealOut, **ERRORS})
def deals_get(request: HttpRequest, deal_id: uuid.UUID) -> Any:
    return _get(_deals(request), request, deal_id, "deal")


def _deal_changes(request: HttpRequest, payload: DealPatch, fields: set[str]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in fields:
        value = getattr(payload, name)
        if name == "stage":
            value = _ref(Stage, request, value, "stage")
        elif name == "owner":
            value = _ref(Membership, request, value, "owner")
        elif name == "company":
            changes["company"] = _ref(Company, request, value, "company")
            continue
        elif value is None and name in {"title", "description", "source", "attributes", "external_id"}:
            value = {} if name == "attributes" else ""
        elif value is None and name in {"amount", "amount_is_estimated"}:
            raise Unprocessable([{"loc": ["body", name], "msg": "may not be null", "type": "value_error"}])
        changes[name] = value
    return changes


@router.post("/deals/", response={201: DealOut, **ERRORS})
def deals_create(request: HttpRequest, payload: DealIn) -> Any:
    key = _key(request)
    changes = _deal_changes(request, payload, payload.model_fields_set | {"title", "stage"})
    external_id = changes.get("external_id")
    if external_id and Deal.objects.filter(workspace_id=key.workspace_id, external_id=external_id).exists():
        raise Unprocessable([{"loc": ["body", "external_id"], "msg": "already used", "type": "value_error"}])
    title, stage = changes.pop("title"), changes.pop("stage")
    try:
        deal = services.deal_create(
            workspace=key.workspace,
            actor=_actor(request),
            title=title,
            stage=stage,
            source_of_change=ChangeSource.API,
            **changes,
        )
    except ValidationError as exc:
        raise _invalid(exc) from None
    return Status(201, _deals(request).get(pk=deal.pk))


@router.patch("/deals/{deal_id}/", response={200: DealOut, **ERRORS})
def deals_update(request: HttpRequest, deal_id: uuid.UUID, payload: DealPatch) -> Any:
    deal = _get(_deals(request), request, deal_id, "deal")
    changes = _deal_changes(request, payload, payload.model_fields_set)
    external_id = changes.get("external_id")
    if external_id and _deals(request).filter(external_id=external_id).exclude(pk=deal.pk).exists():
        raise Unprocessable([{"loc": ["body", "external_id"], "msg": "already used", "type": "value_error"}])
    if "company" in changes:
        changes["company_id"] = changes.pop("company").id if changes["company"] else None
    try:
        services.deal_update(deal=deal, actor=_actor(request), changes=changes, source_of_change=ChangeSource.API)
    except ValidationError as exc:
        raise _invalid(exc) from None
    return _deals(request).get(pk=deal.pk)


@router.delete("/deals/{deal_id}/", response={204: None, **ERRORS})
def deals_delete(request: HttpRequest, deal_id: uuid.UUID) -> Any:
    deal = _get(_deals(request), request, deal_id, "deal")
    with transaction.atomic():
        deal.delete()
    return Status(204, None)


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
        return obj.parent.uuid if obj.parent_id else None


class CompanyPage(Schema):
    count: int
    next_offset: int | None
    items: list[CompanyOut]


def _short(n: int) -> Any:
    return Annotated[str, Field(max_length=n, pattern=r"^[^\x00]*$")]


class CompanyPatch(Schema):
    name: Title | None = None
    domain: _short(200) | None = None  # type: ignore[valid-type]
    industry: _short(100) | None = None  # type: ignore[valid-type]
    employees: Annotated[int, Field(ge=0, le=2_000_000_000)] | None = None
    annual_revenue: Annotated[Decimal, Field(ge=0, max_digits=16, decimal_places=2)] | None = None
    location: _short(120) | None = None  # type: ignore[valid-type]
    parent: uuid.UUID | None = None
    attributes: dict[str, Any] | None = None
    external_id: _short(255) | None = None  # type: ignore[valid-type]

    _check_attributes = field_validator("attributes")(_no_nul)


class CompanyIn(CompanyPatch):
    name: Title


def _companies(request: HttpRequest) -> QuerySet:
    return Company.objects.for_workspace(_key(request).workspace_id).select_related("parent")


def _company_fields(request: HttpRequest, payload: CompanyPatch, company: Company | None) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in payload.model_fields_set:
        value = getattr(payload, name)
        if name == "parent":
            parent = _ref(Company, request, value, "parent")
            if parent is not None and company is not None and parent.pk == company.pk:
                raise Unprocessable([{"loc": ["body", "parent"], "msg": "a company cannot be its own parent"}])
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
        raise Unprocessable([{"loc": ["body", "external_id"], "msg": "already used", "type": "value_error"}])
    return fields


@router.get("/companies/", response={200: CompanyPage, **ERRORS})
def companies_list(
    request: HttpRequest, page: Query[Page], q: Annotated[str, Field(max_length=200, pattern=r"^[^\x00]*$")] = ""
) -> Any:
    companies = _companies(request)
    if q:
        companies = companies.filter(Q(name__icontains=q) | Q(domain__icontains=q))
    return _page(companies.order_by("name", "id"), page)


@router.get("/companies/{company_id}/", response={200: CompanyOut, **ERRORS})
def companies_get(request: HttpRequest, company_id: uuid.UUID) -> Any:
    return _get(_companies(request), request, company_id, "company")


@router.post("/companies/", response={201: CompanyOut, **ERRORS})
def companies_create(request: HttpRequest, payload: CompanyIn) -> Any:
    fields = _company_fields(request, payload, None)
    try:
        company = services.company_save(workspace=_key(request).workspace, **fields)
    except ValidationError as exc:
        raise _invalid(exc) from None
    return Status(201, _companies(request).get(pk=company.pk))


@router.patch("/companies/{company_id}/", response={200: CompanyOut, **ERRORS})
def companies_update(request: HttpRequest, company_id: uuid.UUID, payload: CompanyPatch) -> Any:
    company = _get(_companies(request), request, company_id, "company")
    fields = _company_fields(request, payload, company)
    try:
        services.company_save(workspace=_key(request).workspace, company=company, **fields)
    except ValidationError as exc:
        raise _invalid(exc) from None
    return _companies(request).get(pk=company.pk)


@router.delete("/companies/{company_id}/", response={204: None, **ERRORS})
def companies_delete(request: HttpRequest, company_id: uuid.UUID) -> Any:
    _get(_companies(request), request, company_id, "company").delete()
    return Status(204, None)


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
        return obj.company.uuid if obj.company_id else None


class ContactPage(Schema):
    count: int
    next_offset: int | None
    items: list[ContactOut]


Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s\x00]+@[^@\s\x00]+\.[A-Za-z]{2,}$")]


class ContactPatch(Schema):
    first_name: _short(100) | None = None  # type: ignore[valid-type]
    last_name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00]*\S[^\x00]*$")] | None = None
    email: Email | None = None
    phone: _short(50) | None = None  # type: ignore[valid-type]
    title: _short(150) | None = None  # type: ignore[valid-type]
    company: uuid.UUID | None = None
    external_id: _short(255) | None = None  # type: ignore[valid-type]


class ContactIn(ContactPatch):
    last_name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00]*\S[^\x00]*$")]


def _contacts(request: HttpRequest) -> QuerySet:
    return Contact.objects.for_workspace(_key(request).workspace_id).select_related("company")


def _contact_fields(request: HttpRequest, payload: ContactPatch, contact: Contact | None) -> dict[str, Any]:
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
        raise Unprocessable([{"loc": ["body", "external_id"], "msg": "already used", "type": "value_error"}])
    return fields


@router.get("/contacts/", response={200: ContactPage, **ERRORS})
def contacts_list(
    request: HttpRequest,
    page: Query[Page],
    q: Annotated[str, Field(max_length=200, pattern=r"^[^\x00]*$")] = "",
    company: uuid.UUID | None = None,
) -> Any:
    contacts = _contacts(request)
    if q:
        contacts = contacts.filter(Q(last_name__icontains=q) | Q(first_name__icontains=q) | Q(email__icontains=q))
    if company:
        contacts = contacts.filter(company__uuid=company)
    return _page(contacts.order_by("last_name", "first_name", "id"), page)


@router.get("/contacts/{contact_id}/", response={200: ContactOut, **ERRORS})
def contacts_get(request: HttpRequest, contact_id: uuid.UUID) -> Any:
    return _get(_contacts(request), request, contact_id, "contact")


@router.post("/contacts/", response={201: ContactOut, **ERRORS})
def contacts_create(request: HttpRequest, payload: ContactIn) -> Any:
    fields = _contact_fields(request, payload, None)
    try:
        contact = services.contact_save(workspace=_key(request).workspace, **fields)
    except ValidationError as exc:
        raise _invalid(exc) from None
    return Status(201, _contacts(request).get(pk=contact.pk))


@router.patch("/contacts/{contact_id}/", response={200: ContactOut, **ERRORS})
def contacts_update(request: HttpRequest, contact_id: uuid.UUID, payload: ContactPatch) -> Any:
    contact = _get(_contacts(request), request, contact_id, "contact")
    fields = _contact_fields(request, payload, contact)
    try:
        services.contact_save(workspace=_key(request).workspace, contact=contact, **fields)
    except ValidationError as exc:
        raise _invalid(exc) from None
    return _contacts(request).get(pk=contact.pk)


@router.delete("/contacts/{contact_id}/", response={204: None, **ERRORS})
def contacts_delete(request: HttpRequest, contact_id: uuid.UUID) -> Any:
    _get(_contacts(request), request, contact_id, "contact").delete()
    return Status(204, None)


# --- activities ----------------------------------------------------------------------------------
Kind = Literal["email", "call", "meeting", "note", "task"]


class ActivityOut(Schema):
    id: uuid.UUID = Field(alias="uuid")
    kind: str
    direction: str
    subject: str
    body: str
    occurred_at: datetime
    deal: uuid.UUID | None
    company: uuid.UUID | None
    owner: uuid.UUID | None
    external_id: str

    @staticmethod
    def resolve_deal(obj: Activity) -> uuid.UUID | None:
        return obj.deal.uuid if obj.deal_id else None

    @staticmethod
    def resolve_company(obj: Activity) -> uuid.UUID | None:
        return obj.company.uuid if obj.company_id else None

    @staticmethod
    def resolve_owner(obj: Activity) -> uuid.UUID | None:
        return obj.owner.uuid if obj.owner_id else None


class ActivityPage(Schema):
    count: int
    next_offset: int | None
    items: list[ActivityOut]


class ActivityPatch(Schema):
    kind: Kind | None = None
    direction: Literal["inbound", "outbound", "internal"] | None = None
    subject: Title | None = None
    body: Text | None = None
    occurred_at: Moment | None = None
    external_id: _short(255) | None = None  # type: ignore[valid-type]


class ActivityIn(ActivityPatch):
    kind: Kind
    subject: Title
    deal: uuid.UUID | None = None
    company: uuid.UUID | None = None


def _activities(request: HttpRequest) -> QuerySet:
    return Activity.objects.for_workspace(_key(request).workspace_id).select_related("deal", "company", "owner")


def _check_activity_external_id(request: HttpRequest, value: str | None, activity: Activity | None) -> None:
    others = _activities(request).exclude(pk=activity.pk) if activity else _activities(request)
    if value and others.filter(external_id=value).exists():
        raise Unprocessable([{"loc": ["body", "external_id"], "msg": "already used", "type": "value_error"}])


@router.get("/activities/", response={200: ActivityPage, **ERRORS})
def activities_list(
    request: HttpRequest, page: Query[Page], deal: uuid.UUID | None = None, kind: Kind | None = None
) -> Any:
    activities = _activities(request)
    if deal:
        activities = activities.filter(deal__uuid=deal)
    if kind:
        activities = activities.filter(kind=kind)
    return _page(activities.order_by("-occurred_at", "id"), page)


@router.get("/activities/{activity_id}/", response={200: ActivityOut, **ERRORS})
def activities_get(request: HttpRequest, activity_id: uuid.UUID) -> Any:
    return _get(_activities(request), request, activity_id, "activity")


@router.post("/activities/", response={201: ActivityOut, **ERRORS})
def activities_create(request: HttpRequest, payload: ActivityIn) -> Any:
    fields = {k: getattr(payload, k) for k in payload.model_fields_set - {"deal", "company", "kind", "subject"}}
    fields = {k: ("" if v is None and k in {"body", "external_id"} else v) for k, v in fields.items() if v is not None}
    _check_activity_external_id(request, fields.get("external_id"), None)
    try:
        activity = services.activity_log(
            workspace=_key(request).workspace,
            actor=_actor(request),
            kind=payload.kind,
            subject=payload.subject,
            deal=_ref(Deal, request, payload.deal, "deal"),
            company=_ref(Company, request, payload.company, "company"),
            **fields,
        )
    except ValidationError as exc:
        raise _invalid(exc) from None
    return Status(201, _activities(request).get(pk=activity.pk))


@router.patch("/activities/{activity_id}/", response={200: ActivityOut, **ERRORS})
def activities_update(request: HttpRequest, activity_id: uuid.UUID, payload: ActivityPatch) -> Any:
    activity = _get(_activities(request), request, activity_id, "activity")
    _check_activity_external_id(request, payload.external_id, activity)
    for name in payload.model_fields_set:
        value = getattr(payload, name)
        if value is None and name in {"body", "external_id"}:
            value = ""
        if value is not None:
            setattr(activity, name, value)
    try:
        activity.full_clean(exclude=["contacts"])
    except ValidationError as exc:
        raise _invalid(exc) from None
    activity.save()
    return _activities(request).get(pk=activity.pk)


@router.delete("/activities/{activity_id}/", response={204: None, **ERRORS})
def activities_delete(request: HttpRequest, activity_id: uuid.UUID) -> Any:
    _get(_activities(request), request, activity_id, "activity").delete()
    return Status(204, None)
