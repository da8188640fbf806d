"""Site-root URLs of the installable app (mounted at "/" by vectoros.urls)."""

from __future__ import annotations

from django.urls import path

from collab import pwa

urlpatterns = [
    path("manifest.webmanifest", pwa.manifest, name="pwa_manifest"),
    path("sw.js", pwa.service_worker, name="pwa_service_worker"),
    path("offline/", pwa.offline, name="pwa_offline"),
]
