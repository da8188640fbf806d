"""The REST API (`/api/v1/`): one NinjaAPI, a router per app, per-workspace bearer keys."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema, Status
from ninja.security import HttpBearer

from tenancy.models import ApiKey
from tenancy.services import api_key_authenticate


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


api = NinjaAPI(
    title="VectorOS API",
    version="1",
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


@api.exception_handler(DjangoValidationError)
def validation_error(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    detail = [{"loc": ["body", field], "msg": " ".join(msgs), "type": "value_error"} for field, msgs in errors.items()]
    return api.create_response(request, {"detail": detail}, status=422)
