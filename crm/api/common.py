"""Shared pieces of the crm REST API: the router, field types, key helpers, pagination.

Everything happens inside the API key's workspace: another workspace's id is a 404, the same as an
id that does not exist. Deal writes go through crm.services, so they leave history with source "api".
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from ninja import Field, Router, Schema
from ninja.errors import HttpError
from ninja.errors import ValidationError as Unprocessable

from tenancy.models import ApiKey, Membership
from vectoros.apischema import CursorPage, Problem, UnknownReference, decimal_amount, paginate
from vectoros.http import ApiRequest

router = Router(tags=["crm"])

# Postgres refuses NUL characters in text; refusing them here makes them a 422, not a 500.
Text = Annotated[str, Field(pattern=r"^[^\x00]*$")]
Title = Annotated[
    str, Field(min_length=1, max_length=200, pattern=r"^[^\x00]*\S[^\x00]*$", examples=["Northwind – data platform"])
]
Amount = decimal_amount(digits=14)
Percent = decimal_amount(digits=5, maximum=Decimal(100))


def _no_nul(value: Any) -> Any:
    """`attributes` without NUL characters, which Postgres cannot store in JSON: they are dropped, not refused."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_no_nul(key): _no_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_no_nul(item) for item in value]
    return value


def _short(n: int) -> Any:
    return Annotated[str, Field(max_length=n, pattern=r"^[^\x00]*$")]


Error = Problem  # every error body is a problem (RFC 9457); vectoros.api documents the ones all operations share
ERRORS: dict[int, type[Schema]] = {401: Problem, 404: Problem, 409: Problem, 422: Problem}
TAKEN = "already used by another record of this workspace"


def _key(request: ApiRequest) -> ApiKey:
    return request.auth


def _actor(request: ApiRequest) -> Membership | None:
    return _key(request).created_by


def _get(queryset: QuerySet, request: ApiRequest, pk: uuid.UUID, what: str) -> Any:
    found = queryset.filter(workspace_id=_key(request).workspace_id, uuid=pk).first()
    if found is None:
        raise HttpError(404, f"No such {what}")
    return found


def _ref(model: type[Any], request: ApiRequest, pk: uuid.UUID | None, field: str) -> Any:
    """A referenced object of this workspace, or a 404 naming the field."""
    if pk is None:
        return None
    found = model.objects.filter(workspace_id=_key(request).workspace_id, uuid=pk).first()
    if found is None:
        raise UnknownReference(["body", field], pk)
    return found


def _invalid(exc: ValidationError) -> Unprocessable:
    errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    return Unprocessable(
        [{"loc": ["body", field], "msg": " ".join(msgs), "type": "value_error"} for field, msgs in errors.items()]
    )


Page = CursorPage


def _page(request: ApiRequest, queryset: QuerySet, page: CursorPage) -> dict[str, Any]:
    return paginate(request, queryset, page)
