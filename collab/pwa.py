"""The installable app: its manifest, the service worker (served at the site root so its scope is the whole
site) and the offline page the worker shows when the network is gone. None needs a sign-in: a browser fetches
them on its own."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

OFFLINE_PATH = "/offline/"


@require_GET
@cache_control(max_age=3600, public=True)
def manifest(request: HttpRequest) -> JsonResponse:
    data = {
        "name": "VectorOS",
        "short_name": "VectorOS",
        "description": "Pipeline, forecast and deal intelligence.",
        "id": "/",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#f6f7fb",
        "theme_color": "#141b2d",
        "icons": [
            {"src": static("collab/icon-192.png"), "sizes": "192x192", "type": "image/png", "purpose": "any"},
            {"src": static("collab/icon-512.png"), "sizes": "512x512", "type": "image/png", "purpose": "any"},
            {"src": static("collab/icon-512.png"), "sizes": "512x512", "type": "image/png", "purpose": "maskable"},
        ],
    }
    return JsonResponse(data, content_type="application/manifest+json")


@require_GET
@cache_control(no_cache=True)
def service_worker(request: HttpRequest) -> HttpResponse:
    """The worker script; `Service-Worker-Allowed: /` lets it control every page."""
    context = {
        "offline_url": OFFLINE_PATH,
        "shell": [OFFLINE_PATH, static("vectoros/app.css"), static("collab/icon-192.png")],
    }
    response = render(request, "collab/sw.js", context, content_type="application/javascript")
    response["Service-Worker-Allowed"] = "/"
    return response


@require_GET
def offline(request: HttpRequest) -> HttpResponse:
    return render(request, "collab/offline.html")
