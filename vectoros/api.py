"""The REST API (`/api/v1/`): one NinjaAPI, a router per app, per-workspace bearer keys.

The contract every operation keeps (the OpenAPI document says it, `tests/test_api_contract.py` checks it):
- every error is an RFC 9457 problem (`application/problem+json`), from the exception handlers below;
- every operation lists every status it can answer (`_document_errors` adds the ones every operation shares);
- paths answer with and without their trailing slash (`ContractAPI._get_urls`);
- a POST with an `Idempotency-Key` header is done once: a retry gets the first answer again (24 h, per API key);
- lists page with an opaque cursor (`vectoros.apischema.paginate`), also given as a `Link: rel="next"` header.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from http import HTTPStatus
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.urls import URLPattern, URLResolver, path
from ninja import NinjaAPI, Schema, Status
from ninja.errors import AuthenticationError, HttpError, Throttled
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import HttpBearer
from pydantic.json_schema import models_json_schema

from tenancy.idempotency import idempotency_claim, idempotency_record, idempotency_release
from tenancy.models import ApiKey
from tenancy.services import api_key_authenticate
from vectoros.apischema import PROBLEM_JSON, Conflict, Problem


class ApiKeyAuth(HttpBearer):
    """`Authorization: Bearer KEY`; `request.auth` is the ApiKey, `request.scope` what it sees.

    401 for an unknown, revoked or expired key or one whose maker left; 403 for a write with a read-only key;
    429 (with Retry-After) past the per-key rate. The rules live in tenancy.services.
    """

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        from django.core.exceptions import PermissionDenied
        from ninja.errors import HttpError, Throttled

        from tenancy.services import api_key_admit, api_key_scope
        from vectoros.ratelimit import RateLimited

        key = api_key_authenticate(token)
        if key is None:
            return None
        try:
            api_key_admit(key, method=request.method or "GET")
        except PermissionDenied as exc:
            raise HttpError(403, str(exc)) from None
        except RateLimited as exc:
            request.retry_after = exc.retry_after  # type: ignore[attr-defined]  # the 429's Retry-After
            raise Throttled(exc.retry_after) from None
        request.scope = api_key_scope(key)  # type: ignore[attr-defined]  # read by vectoros.http.api_scope
        return key


class ContractAPI(NinjaAPI):
    """NinjaAPI that answers every path with and without its trailing slash and documents the shared errors."""

    def _get_urls(self) -> list[URLResolver | URLPattern]:
        urls = super()._get_urls()
        twins = []
        for url in urls:
            route = str(url.pattern)
            if isinstance(url, URLPattern) and route and not route.endswith(".json"):
                twin = route[:-1] if route.endswith("/") else f"{route}/"
                twins.append(path(twin, url.callback))  # unnamed: reverse() gives the documented form
        return urls + twins

    def get_openapi_schema(self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None) -> Any:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        _document_errors(schema)
        return schema


api = ContractAPI(
    title="VectorOS API",
    version="1",
    description=(
        "Every error is an RFC 9457 problem (`application/problem+json`). Lists page with `?cursor=` (the previous"
        ' page\'s `next`, also sent as `Link: <…>; rel="next"`). A POST with an `Idempotency-Key` header is done'
        " once: repeating it within 24 hours returns the first answer. Changes and deprecations: docs/api-changelog.md."
    ),
    urls_namespace="api",
    auth=ApiKeyAuth(),
    docs_url="/docs",
    openapi_url="/openapi.json",
)
api.add_router("/", "crm.api.router")
api.add_router("/embeddings/", "similarity.api.router")
api.add_router("/ml/", "scoring.api.router")
api.add_router("/forecasts/", "forecasting.api.router")
api.add_router("/alerts/", "alerts.api.router")
api.add_router("/customers/", "customers.api.router")
api.add_router("/sync/", "sync.api.router")
api.add_router("/collab/", "collab.api.router")


class HealthOut(Schema):
    status: str
    database: bool
    worker_last_task_at: datetime | None
    worker_clusters: int
    queued_tasks: int | None


@api.get("/health/", auth=None, response={200: HealthOut, 503: HealthOut}, tags=["health"])
def health(request: HttpRequest) -> Status:
    """Database reachability and the worker's heartbeat (its clusters and the last task it finished)."""
    from django.db import DatabaseError, connection

    database, last_task, clusters, queued = True, None, 0, None
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        from django_q.models import OrmQ, Task

        last = Task.objects.order_by("-stopped").values_list("stopped", flat=True).first()
        last_task = last
        queued = OrmQ.objects.count()
    except DatabaseError:
        database = False
    try:
        from django_q.status import Stat

        clusters = len(Stat.get_all())
    except Exception:  # a cache outage must not turn the health check into a 500
        clusters = 0
    body = {
        "status": "ok" if database else "down",
        "database": database,
        "worker_last_task_at": last_task,
        "worker_clusters": clusters,
        "queued_tasks": queued,
    }
    return Status(200 if database else 503, body)


# --- problem details -----------------------------------------------------------------------------------------------
def problem(
    status: int,
    detail: str,
    *,
    kind: str = "about:blank",
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    """An RFC 9457 problem response; `kind` is its `type` URI."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body: dict[str, Any] = {"type": kind, "title": title, "status": status, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    response = HttpResponse(json.dumps(body, cls=DjangoJSONEncoder), status=status, content_type=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _field_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    fields = []
    for error in errors:
        loc = [part if isinstance(part, int) else str(part) for part in error.get("loc", [])]
        if loc[:2] == ["body", "payload"]:  # ninja's name of the body parameter: not part of the contract
            del loc[1]
        fields.append({"loc": loc, "msg": str(error.get("msg", "")), "type": str(error.get("type", "value_error"))})
    return fields


def _unprocessable(errors: list[dict[str, Any]]) -> HttpResponse:
    fields = _field_errors(errors)
    where = "; ".join(
        f"{'.'.join(str(p) for p in e['loc'][1:]) or e['loc'][0]}: {e['msg']}" for e in fields[:5] if e["loc"]
    )
    return problem(422, where or "The request breaks the rules.", kind="urn:vectoros:problem:validation", errors=fields)


@api.exception_handler(NinjaValidationError)
def _validation_problem(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    return _unprocessable(exc.errors)


@api.exception_handler(DjangoValidationError)
def _model_validation_problem(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    messages = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    return _unprocessable([{"loc": ["body", field], "msg": " ".join(msgs)} for field, msgs in messages.items()])


@api.exception_handler(HttpError)
def _http_problem(request: HttpRequest, exc: HttpError) -> HttpResponse:
    headers = {}
    if isinstance(exc, AuthenticationError):
        headers["WWW-Authenticate"] = "Bearer"
        detail = "A valid API key is required: `Authorization: Bearer KEY`."
        return problem(401, detail, headers=headers)
    if isinstance(exc, Throttled) and exc.wait is not None:
        headers["Retry-After"] = str(max(1, int(exc.wait + 0.999)))
    if exc.status_code == 400:
        return problem(400, "The body is not valid JSON.", kind="urn:vectoros:problem:unparseable-body")
    if exc.status_code == 422:  # a rule checked in code that names no field
        return problem(422, str(exc), kind="urn:vectoros:problem:validation", errors=[])
    errors = getattr(exc, "errors", None)  # Conflict and UnknownReference name the field at fault
    return problem(exc.status_code, str(exc), headers=headers, errors=errors)


@api.exception_handler(Http404)
def _not_found_problem(request: HttpRequest, exc: Http404) -> HttpResponse:
    return problem(404, "No such object in this workspace.")


# --- Idempotency-Key on POSTs, the Link header of pages -------------------------------------------------------------
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def _idempotent(view_func: Callable[..., Any]) -> Callable[..., Any]:
    """After auth and validation: replay a POST already answered under this Idempotency-Key, or claim the key."""

    @wraps(view_func)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or key is None or not isinstance(getattr(request, "auth", None), ApiKey):
            return view_func(request, *args, **kwargs)
        if not IDEMPOTENCY_KEY.match(key):
            msg = "1 to 255 visible ASCII characters"
            raise NinjaValidationError([{"loc": ["header", "Idempotency-Key"], "msg": msg, "type": "value_error"}])
        digest = hashlib.sha256(f"{request.method} {request.path.rstrip('/')}\n".encode() + request.body)
        claim, created = idempotency_claim(api_key=request.auth, key=key, fingerprint=digest.hexdigest())  # type: ignore[attr-defined]  # an ApiKey, checked above
        if created:
            request.api_idempotency = claim  # type: ignore[attr-defined]  # recorded by _contract_view
            return view_func(request, *args, **kwargs)
        if claim.fingerprint != digest.hexdigest():
            raise Conflict("This Idempotency-Key was used for a different request; use a new key.")
        if claim.status is None:
            raise Conflict("The first request with this Idempotency-Key is still running; retry later.")
        replay = HttpResponse(bytes(claim.body), status=claim.status, content_type=claim.content_type or None)
        replay["Idempotent-Replayed"] = "true"
        return replay

    return wrapper


def _contract_view(run: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Around the whole operation: keep the answer of an idempotent POST, add the `Link` header of a page."""

    @wraps(run)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = run(request, *args, **kwargs)
        claim = getattr(request, "api_idempotency", None)
        if claim is not None:
            if response.status_code >= 500:
                idempotency_release(request=claim)
            else:
                content = response.content if isinstance(response, HttpResponse) else b""
                content_type = response.get("Content-Type", "")
                idempotency_record(request=claim, status=response.status_code, content_type=content_type, body=content)
        link = getattr(request, "api_link_next", None)
        if link is not None and response.status_code == 200:
            response["Link"] = f'<{link}>; rel="next"'
        return response

    return wrapper


api.add_decorator(_idempotent, mode="operation")
api.add_decorator(_contract_view, mode="view")


# --- what the OpenAPI document says about errors ------------------------------------------------------------------
ERROR_TEXT = {
    400: "The body is not valid JSON.",
    401: "No valid API key: send `Authorization: Bearer KEY`.",
    403: "The API key may not do this.",
    404: "No such object in the key's workspace (another workspace's object is the same 404).",
    409: "The request conflicts with the current state, or reuses an Idempotency-Key for a different request.",
    422: "A parameter or a body field breaks the rules; `errors` names each one.",
    429: "Too many requests; retry after `Retry-After` seconds.",
    503: "A dependency (the database, the embedding model) is unavailable; retry later.",
}


def _problem_schemas() -> dict[str, Any]:
    _, defs = models_json_schema([(Problem, "serialization")], ref_template="#/components/schemas/{model}")
    return defs["$defs"]


def _document_errors(schema: dict[str, Any]) -> None:
    """Every operation lists the problems it can answer; POSTs take `Idempotency-Key`; pages send `Link`."""
    schema.setdefault("components", {}).setdefault("schemas", {}).update(_problem_schemas())
    problem_content = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for item in schema["paths"].values():
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            parameters = operation.setdefault("parameters", [])
            statuses = {429} | {int(code) for code in responses if int(code) >= 400}
            if operation.get("security"):
                statuses |= {401, 403}
            if any(p["in"] == "path" for p in parameters):
                statuses.add(404)
            if parameters or "requestBody" in operation:
                statuses.add(422)
            if "requestBody" in operation:
                statuses.add(400)
            if method == "post":
                statuses |= {409, 422}
                parameters.append(
                    {
                        "in": "header",
                        "name": "Idempotency-Key",
                        "required": False,
                        "description": "Repeat the POST safely: within 24 hours the same key and body get the first"
                        " answer again (with `Idempotent-Replayed: true`); the same key with another body is a 409.",
                        "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
                    }
                )
            for parameter in parameters:  # a query value cannot be null: absent is how a client says "none"
                options = parameter["schema"].get("anyOf", [])
                if {"type": "null"} in options and len(options) == 2:
                    parameter["schema"] = {
                        k: v for k, v in parameter["schema"].items() if k not in {"anyOf", "default"}
                    }
                    parameter["schema"].update(next(o for o in options if o != {"type": "null"}))
            for status in sorted(statuses):
                old = responses.pop(status, None) or responses.pop(str(status), None) or {}
                described = old.get("description") not in (None, "", HTTPStatus(status).phrase)
                entry: dict[str, Any] = {
                    "description": old["description"] if described else ERROR_TEXT[status],
                    "content": problem_content,
                }
                if status == 429:
                    entry["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}
                if status == 401:
                    entry["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
                responses[status] = entry
            if any(p["in"] == "query" and p["name"] == "cursor" for p in parameters):
                ok = responses.get(200) or responses.get("200")
                if ok is not None:
                    ok["headers"] = {
                        "Link": {
                            "description": '`<URL of the next page>; rel="next"`, absent on the last page',
                            "schema": {"type": "string"},
                        }
                    }
            if not parameters:
                del operation["parameters"]
