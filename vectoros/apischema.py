"""The REST API's shared contract: problem details, request bodies that refuse extras, cursor pages.

Every app's router builds on these, so every operation answers errors in one shape (RFC 9457 problem details,
`application/problem+json`) and pages the same way. `vectoros.api` turns exceptions into problems and writes the
error responses, the `Link` header and the `Idempotency-Key` header into the OpenAPI document.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Schema
from ninja.errors import (
    HttpError,
    Throttled,  # raised by rate limits: a 429 problem with Retry-After
)
from pydantic import AfterValidator, BeforeValidator, ConfigDict, ValidationInfo, WithJsonSchema, model_validator
from pydantic.functional_validators import ModelWrapValidatorHandler

__all__ = [
    "Body",
    "Conflict",
    "CursorPage",
    "Day",
    "FieldError",
    "Moment",
    "PageOut",
    "Problem",
    "Throttled",
    "UnknownReference",
    "decimal_amount",
    "drop_default",
    "paginate",
]

PROBLEM_JSON = "application/problem+json"


class FieldError(Schema):
    loc: list[str | int] = Field(description="where: `body`, `query` or `path`, then the field")
    msg: str
    type: str


class Problem(Schema):
    """RFC 9457 problem details; `errors` lists the fields at fault (422)."""

    type: str = Field(description="a URI naming the kind of problem; `about:blank` when the status says it all")
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None


class Conflict(HttpError):
    """409: the request clashes with the current state (a taken external_id, a reused Idempotency-Key, no model yet)."""

    def __init__(self, message: str, *, loc: list[str] | None = None) -> None:
        super().__init__(409, message)
        self.errors = [{"loc": loc, "msg": message, "type": "conflict"}] if loc else None


class UnknownReference(HttpError):
    """404 for an id in a body or a filter that names nothing in the key's workspace (another workspace's is the same).

    The rule is the same wherever an id is: in the path, the query or the body, an id that names nothing is a 404.
    """

    def __init__(self, loc: list[str], value: object, *, message: str | None = None) -> None:
        message = message or f"No such {loc[-1]}: {value}"
        super().__init__(404, message)
        self.errors = [{"loc": loc, "msg": message, "type": "not_found"}]


def drop_default(schema: dict[str, Any]) -> None:
    """For `Field(json_schema_extra=drop_default)`: a property that may be left out but never sent as null."""
    schema.pop("default", None)


class Body(Schema):
    """A JSON object body: unknown properties are refused (`additionalProperties: false`), so is a non-object."""

    model_config = ConfigDict(extra="forbid", from_attributes=False)

    @model_validator(mode="wrap")
    @classmethod
    def _run_root_validator(cls, values: Any, handler: ModelWrapValidatorHandler[Any], info: ValidationInfo) -> Any:
        # Replaces ninja's validator of the same name, which reads any object's attributes (ORM rows): a body is data.
        if isinstance(values, dict):
            for name, kinds in _json_kinds(cls):
                value = values.get(name)
                if value is not None and not _is_kind(value, kinds):
                    expected = " or ".join(dict.fromkeys(_JSON_NAMES[k] for k in kinds))
                    raise ValueError(f"{name}: a JSON {expected} is expected")
        return handler(values)


# pydantic's lax mode takes 1 for true, 0 for a date and "5" for 5; the schema says a JSON boolean, string, integer.
# What each field type may be in the JSON body (decimals come as a number or a plain decimal string).
_JSON_KINDS: dict[type, tuple[type, ...]] = {
    bool: (bool,),
    int: (int,),
    float: (int, float),
    Decimal: (int, float, str),
    date: (str,),
    datetime: (str,),
}


_JSON_NAMES = {bool: "boolean", int: "number", float: "number", str: "string"}


def _is_kind(value: Any, kinds: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in kinds
    if isinstance(value, float) and int in kinds and float not in kinds:
        return value.is_integer()
    return isinstance(value, kinds)


def _base_type(annotation: Any) -> Any:
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, UnionType):
            options = [a for a in get_args(annotation) if a is not type(None)]
            if len(options) != 1:
                return None
            annotation = options[0]
        else:
            return annotation


@cache
def _json_kinds(model: type[Body]) -> list[tuple[str, tuple[type, ...]]]:
    found = []
    for name, field in model.model_fields.items():
        kinds = _JSON_KINDS.get(_base_type(field.annotation))
        if kinds is not None:
            found.append((field.alias or name, kinds))
    return found


def decimal_amount(*, digits: int, places: int = 2, maximum: Decimal | None = None) -> Any:
    """A non-negative decimal sent as a JSON number or a plain decimal string, rounded half-up to `places`.

    Rounding (rather than refusing extra places) keeps every number the schema allows acceptable: binary floats
    such as 0.1 * 3 carry more places than they were meant to.
    """
    step = Decimal(1).scaleb(-places)
    top = maximum if maximum is not None else Decimal(10 ** (digits - places)) - step
    pattern = rf"^\d{{1,{digits - places}}}(\.\d{{1,{places}}})?$"

    def rounded(value: Decimal) -> Decimal:
        return value.quantize(step, rounding=ROUND_HALF_UP)

    number = {"type": "number", "minimum": 0, "maximum": float(top)}
    # A string's size is bounded by its digits alone, so only an amount without a maximum of its own takes one.
    options = [number] if maximum is not None else [number, {"type": "string", "pattern": pattern}]
    json_schema = {"anyOf": options, "description": f"at most {top}; rounded to {places} decimal places"}
    return Annotated[
        Decimal, Field(ge=0, le=top, allow_inf_nan=False), AfterValidator(rounded), WithJsonSchema(json_schema)
    ]


# --- dates the database and the forecasts can hold -----------------------------------------------------------------
# JSON Schema has no date ranges, so the years are a pattern on the string; the validators check the same years.
def _years_1900_2199(value: date) -> date:
    if not 1900 <= value.year <= 2199:
        raise ValueError("the year must be between 1900 and 2199")
    return value


def _years_1901_2199_as_utc(value: datetime) -> datetime:
    # Postgres refuses offsets beyond ±15:59 and naive times are ambiguous: store UTC. A year from 1901 keeps the
    # conversion inside what both can hold.
    if not 1901 <= value.year <= 2199:
        raise ValueError("the year must be between 1901 and 2199")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Dates as a full pattern (not `format`), so that generated dates are valid ones; 29 February is left out of the
# pattern (it is a valid date in leap years only) but accepted.
_DATE = r"(19\d\d|2[01]\d\d)-((0[1-9]|1[0-2])-(0[1-9]|1\d|2[0-8])|(0[13-9]|1[0-2])-(29|30)|(0[13578]|1[02])-31)"
_TIME = r"([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)?"
_MOMENT = _DATE.replace("(19\\d\\d|", "(190[1-9]|19[1-9]\\d|", 1)


def _shaped(shape: str) -> Any:
    """Text of that shape only: pydantic would also read a number ("0.5") as a Unix time."""
    compiled = re.compile(shape)

    def check(value: Any) -> Any:
        if isinstance(value, str) and not compiled.match(value):
            raise ValueError("not an ISO 8601 date" + ("" if shape == _DAY_SHAPE else " and time"))
        return value

    return BeforeValidator(check)


_DAY_SHAPE = r"^\d{4}-\d\d-\d\d$"
Day = Annotated[
    date,
    _shaped(_DAY_SHAPE),
    AfterValidator(_years_1900_2199),
    WithJsonSchema({"type": "string", "pattern": f"^{_DATE}$", "description": "a date, YYYY-MM-DD, 1900 to 2199"}),
]
Moment = Annotated[
    datetime,
    _shaped(r"^\d{4}-\d\d-\d\dT"),
    AfterValidator(_years_1901_2199_as_utc),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": f"^{_MOMENT}T{_TIME}$",
            "description": "a date and time (RFC 3339), 1901 to 2199; UTC unless an offset is given",
        }
    ),
]


# --- cursor pagination ------------------------------------------------------------------------------------------
# The cursor is opaque to clients: today it carries the position in the ordered list (base 36), so a page boundary can
# shift when rows are inserted or deleted between two requests (`count` tells how many matched at that moment). Every
# string the pattern allows is a cursor; one past the end gives an empty page.
CURSOR_PATTERN = r"^o[0-9a-z]{1,4}$"
MAX_OFFSET = 36**4 - 1


def cursor_encode(offset: int) -> str:
    digits = ""
    while True:
        offset, digit = divmod(offset, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[digit] + digits
        if offset == 0:
            return f"o{digits}"


def cursor_decode(cursor: str) -> int:
    return int(cursor[1:], 36)


class CursorPage(Schema):
    """Query parameters of every list: `limit` and the `cursor` from the previous page's `next`."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(50, ge=1, le=500, description="items per page")
    cursor: str | None = Field(
        None, pattern=CURSOR_PATTERN, description="the `next` of the previous page; omit for the first page"
    )
    offset: int | None = Field(
        None,
        ge=0,
        le=1_000_000,
        deprecated=True,
        description="deprecated (use `cursor`; ignored with it): items to skip",
    )


def paginate(request: HttpRequest, queryset: QuerySet, page: CursorPage) -> dict[str, Any]:
    """One page: `count`, `next` (a cursor, null on the last page) and `items`; `Link: <…>; rel="next"` too."""
    offset = vars(page).get("offset")  # read without the warning a deprecated field gives on access
    start = cursor_decode(page.cursor) if page.cursor is not None else offset or 0
    count = queryset.count()
    items = list(queryset[start : start + page.limit])
    following = start + page.limit
    more = following < count
    following_cursor = cursor_encode(following) if more and following <= MAX_OFFSET else None
    if following_cursor is not None:
        query = request.GET.copy()
        query.pop("offset", None)
        query["cursor"] = following_cursor
        request.api_link_next = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")  # type: ignore[attr-defined]  # read by vectoros.api
    return {"count": count, "next": following_cursor, "next_offset": following if more else None, "items": items}


class PageOut(Schema):
    """One page of a list; a subclass adds `items`. The next page is `?cursor=<next>` (also the `Link` header)."""

    count: int = Field(description="how many items match, on every page")
    next: str | None = Field(description="the cursor of the next page (`?cursor=`); null on the last page")
    next_offset: int | None = Field(deprecated=True, description="deprecated (use `next`): the next page's offset")
