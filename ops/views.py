"""Health checks and metrics: no sign-in, no session; metrics only for a token or an allowed network."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from ops import health, metrics


@require_GET
def live(request: HttpRequest) -> JsonResponse:
    """The process is up (it answers); says nothing of the database."""
    return JsonResponse({"status": "ok"})


@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    """200 when database, broker and migrations are fine; 503 with what is wrong otherwise."""
    checks = health.readiness()
    failing = {name: error for name, error in checks.items() if error}
    body = {"status": "unavailable" if failing else "ok", "checks": {k: v or "ok" for k, v in checks.items()}}
    return JsonResponse(body, status=503 if failing else 200)


@require_GET
def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    if not metrics.allowed(request):
        return HttpResponse("Forbidden: a bearer METRICS_TOKEN or an address in METRICS_ALLOWED_NETWORKS\n", status=403)
    return HttpResponse(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)
