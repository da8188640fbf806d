"""Deal endpoints; writes go through crm.services so they leave history with source "api"."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from ninja import Field, Query, Schema, Status
from ninja.errors import HttpError
from ninja.errors import ValidationError as Unprocessable
from pydantic import field_validator

from crm import services
from crm.api.common import (
    ERRORS,
    TAKEN,
    Amount,
    Page,
    Percent,
    Text,
    Title,
    _actor,
    _get,
    _invalid,
    _key,
    _no_nul,
    _page,
    _ref,
    router,
)
from crm.forms import DealFilterForm
from crm.models import ChangeSource, Company, Deal, Stage
from crm.selectors import DEAL_SORTS, deals_filtered
from tenancy.models import Membership
from vectoros.apischema import Body, Conflict, Day, Moment, PageOut, UnknownReference, drop_default
from vectoros.http import ApiRequest, api_scope


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
    forecast_category: str  # the owner's override; "" follows the stage
    effective_forecast_category: str

    @staticmethod
    def resolve_pipeline(obj: Deal) -> uuid.UUID:
        return obj.pipeline.uuid

    @staticmethod
    def resolve_stage(obj: Deal) -> uuid.UUID:
        return obj.stage.uuid

    @staticmethod
    def resolve_owner(obj: Deal) -> uuid.UUID | None:
        return related.uuid if (related := obj.owner) is not None else None

    @staticmethod
    def resolve_company(obj: Deal) -> uuid.UUID | None:
        return related.uuid if (related := obj.company) is not None else None


class DealPage(PageOut):
    items: list[DealOut]


# Filters that select nothing rather than fail: an owner, team, stage or company the key cannot see (or that does not
# exist: the two are the same) and a close range that ends before it starts.
MATCH_NOTHING = {"owner", "team", "stage", "company", "close_to"}


class DealQuery(Schema):
    """The deal filters of the list page and the CSV export (`crm.forms.DealFilterForm` reads them).

    An id the key cannot see, or a close range ending before it starts, selects no deal (not an error).
    """

    owner: uuid.UUID | None = None
    team: uuid.UUID | None = None
    stage: uuid.UUID | None = None
    company: uuid.UUID | None = None
    outcome: Literal["open", "won", "lost"] | None = None
    q: Annotated[str, Field(max_length=200, pattern=r"^[^\x00]*$")] | None = None
    close: Literal["this_quarter", "next_quarter", "overdue", "custom"] | None = None
    close_from: date | None = None
    close_to: date | None = None
    updated_since: Moment | None = None
    sort: Literal[DEAL_SORTS] | None = None  # type: ignore[valid-type]  # the selector's own list


class DealPatch(Body):
    """The fields to change; a field left out stays as it is. Title, stage and amount may be left out, not null."""

    title: Title = Field(None, json_schema_extra=drop_default)  # type: ignore[assignment]  # absent, never null
    description: Text | None = None
    stage: uuid.UUID = Field(None, json_schema_extra=drop_default)  # type: ignore[assignment]  # absent, never null
    amount: Amount = Field(None, json_schema_extra=drop_default)  # absent means unchanged; null is refused
    amount_is_estimated: bool = Field(None, json_schema_extra=drop_default)  # type: ignore[assignment]  # absent, never null
    probability: Percent | None = None
    expected_close_date: Day | None = None
    owner: uuid.UUID | None = None
    company: uuid.UUID | None = None
    source: Annotated[str, Field(max_length=100, pattern=r"^[^\x00]*$")] | None = None
    attributes: dict[str, Any] | None = None
    external_id: Annotated[str, Field(max_length=255, pattern=r"^[^\x00]*$")] | None = None
    # Commit, best case, pipeline or omitted; "" or null follows the stage's default.
    forecast_category: Literal["commit", "best_case", "pipeline", "omitted", ""] | None = None

    _check_attributes = field_validator("attributes")(_no_nul)


class DealIn(DealPatch):
    title: Title
    stage: uuid.UUID


def _deals(request: ApiRequest) -> QuerySet:
    return api_scope(request).deals().select_related("pipeline", "stage", "owner", "company")


REFERENCES = ("owner", "team", "stage", "company")


@router.get("/deals/", response={200: DealPage, **ERRORS})
def deals_list(request: ApiRequest, filters: Query[DealQuery], page: Query[Page]) -> Any:
    """Deals in the key's scope, narrowed and sorted exactly like the deal list page and its CSV export.

    A `close_to` before `close_from` selects no deal. An owner, team, stage or company the key cannot see is a 404,
    the same as one that does not exist.
    """
    # `filters` is declared for the schema and checked by ninja; the shared form below reads the same parameters.
    query = request.GET.copy()
    if filters.updated_since is not None:  # in UTC: Postgres refuses offsets beyond ±15:59
        query["updated_since"] = filters.updated_since.isoformat()
    form = DealFilterForm(query, scope=api_scope(request))
    if not form.is_valid():
        if set(form.errors) == {"close_to"} and filters.close_from and filters.close_to:
            return _page(request, Deal.objects.none(), page)  # a close range ending before it starts: no deal
        unknown = [name for name in REFERENCES if name in form.errors]
        if unknown:  # an owner, team, stage or company the key cannot see: the same 404 as one that does not exist
            raise UnknownReference(["query", unknown[0]], request.GET.get(unknown[0]))
        raise Unprocessable(
            [
                {"loc": ["query", name], "msg": " ".join(str(e) for e in errors), "type": "value_error"}
                for name, errors in form.errors.items()
            ]
        )
    return _page(request, deals_filtered(api_scope(request), form.filters()).select_related("pipeline"), page)


@router.get("/deals/{deal_id}/", response={200: DealOut, **ERRORS})
def deals_get(request: ApiRequest, deal_id: uuid.UUID) -> Any:
    return _get(_deals(request), request, deal_id, "deal")


def _deal_changes(request: ApiRequest, payload: DealPatch, fields: set[str]) -> dict[str, Any]:
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
        elif value is None and name in {
            "title",
            "description",
            "source",
            "attributes",
            "external_id",
            "forecast_category",
        }:
            value = {} if name == "attributes" else ""
        changes[name] = value
    return changes


@router.post("/deals/", response={201: DealOut, **ERRORS})
def deals_create(request: ApiRequest, payload: DealIn) -> Any:
    key = _key(request)
    changes = _deal_changes(request, payload, payload.model_fields_set | {"title", "stage"})
    external_id = changes.get("external_id")
    if external_id and Deal.objects.filter(workspace_id=key.workspace_id, external_id=external_id).exists():
        raise Conflict(f"external_id: {TAKEN}", loc=["body", "external_id"])
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
def deals_update(request: ApiRequest, deal_id: uuid.UUID, payload: DealPatch) -> Any:
    deal = _get(_deals(request), request, deal_id, "deal")
    changes = _deal_changes(request, payload, payload.model_fields_set)
    external_id = changes.get("external_id")
    if external_id and _deals(request).filter(external_id=external_id).exclude(pk=deal.pk).exists():
        raise Conflict(f"external_id: {TAKEN}", loc=["body", "external_id"])
    if "company" in changes:
        changes["company_id"] = changes.pop("company").id if changes["company"] else None
    try:
        services.deal_update(deal=deal, actor=_actor(request), changes=changes, source_of_change=ChangeSource.API)
    except ValidationError as exc:
        raise _invalid(exc) from None
    except PermissionDenied as exc:
        raise HttpError(403, str(exc)) from None
    return _deals(request).get(pk=deal.pk)


@router.delete("/deals/{deal_id}/", response={204: None, **ERRORS})
def deals_delete(request: ApiRequest, deal_id: uuid.UUID) -> Any:
    """Soft delete: the deal disappears everywhere, its history is kept, and an admin can restore it."""
    deal = _get(_deals(request), request, deal_id, "deal")
    services.deal_delete(deal=deal, actor=_actor(request), source_of_change=ChangeSource.API)
    return Status(204, None)
