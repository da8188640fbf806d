"""The REST API (`/api/v1/`): one NinjaAPI, a router per app, per-workspace bearer keys."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import NinjaAPI
from ninja.security import HttpBearer

from tenancy.models import ApiKey
from tenancy.services import api_key_authenticate


class ApiKeyAuth(HttpBearer):
    """`Authorization: Bearer KEY`; `request.auth` is the ApiKey, `request.auth.workspace` its workspace."""

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        return api_key_authenticate(token)


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
